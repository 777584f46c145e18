# Sourced by the recipes that build third-party unikernels from pinned upstream sources
# (nanos, unikraft, and the OSv recipe to come). These machines reach package registries
# only, never GitHub, so the sources come from a mirror folder of `git archive` tarballs
# (../shared/mirror/README.md says how it is made); on a machine with internet, a file the
# mirror lacks is made the same way from upstream. Either way the file must match the
# checksum the recipe pins, or the build stops.
#
#   SHRINKWRAP_MIRROR  the mirror folder (default: ../shared/mirror beside the repository)
#
# Needs: a `die` function printing one line on the recipe's stderr, and SHRINKWRAP_ROOT.

# The mirror folder: $SHRINKWRAP_MIRROR, else ../shared/mirror beside the repository.
mirror_dir() {
  if [ -n "${SHRINKWRAP_MIRROR:-}" ]; then
    echo "$SHRINKWRAP_MIRROR"
  else
    echo "$(cd "${SHRINKWRAP_ROOT:?}/.." && pwd)/shared/mirror"
  fi
}

# Makes FILE (a path inside the mirror, e.g. nanos/nanos-0.1.55.tar.gz) from upstream:
# `git archive` of REV of the repository at URL (a zip when FILE ends in .zip, else tar.gz),
# with PREFIX/ in front of every path, as the mirror's files are made, into SCRATCH. Sets
# UPSTREAM_TARBALL; fails quietly when upstream is unreachable.
mirror_from_upstream() {
  local file=$1 url=$2 rev=$3 prefix=$4 scratch=$5 format=tar.gz
  command -v git >/dev/null || return 1
  case $file in *.zip) format=zip ;; esac
  local clone=$scratch/upstream/${file%."$format"}
  rm -rf "$clone"
  mkdir -p "$clone"
  timeout 300 git -C "$clone" init -q &&
    timeout 300 git -C "$clone" fetch -q --depth 1 "$url" "$rev" &&
    git -C "$clone" archive --format="$format" --prefix="$prefix/" -o "$clone.$format" FETCH_HEAD ||
    return 1
  rm -rf "$clone"
  UPSTREAM_TARBALL=$clone.$format
}

# Sets MIRROR_TARBALL to the verified tarball FILE: from the mirror, else made from upstream
# (URL at REV, paths under PREFIX/) into SCRATCH. Stops the build with one line naming the
# file and the fix when it is missing everywhere or its SHA-256 is not SHA256.
mirror_tarball() {
  local file=$1 sha256=$2 url=$3 rev=$4 prefix=$5 scratch=$6
  local mirror path actual
  mirror=$(mirror_dir)
  path=$mirror/$file
  if [ ! -f "$path" ]; then
    echo "mirror: $path missing; making it from $url at $rev"
    mirror_from_upstream "$file" "$url" "$rev" "$prefix" "$scratch" ||
      die "source $file is not in the mirror ($mirror) and $url cannot be reached: put the pinned mirror beside the repository (../shared/mirror) or name it with SHRINKWRAP_MIRROR"
    path=$UPSTREAM_TARBALL
  fi
  actual=$(sha256sum "$path" | cut -d' ' -f1)
  [ "$actual" = "$sha256" ] ||
    die "source $path has SHA-256 $actual, not the pinned $sha256: replace it with the pinned file (../shared/mirror/SHA256SUMS lists it)"
  MIRROR_TARBALL=$path
}
