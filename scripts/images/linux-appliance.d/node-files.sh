# Sourced by scripts/images/node-rootfs and scripts/images/linux-appliance: the files of
# the talk's Node.js container, shared so that the container and the appliance hold the
# same node, libraries and app.

# Where the Node.js workload's files come from.
NODE_BIN=/usr/bin/node
NODE_APP=scenarios/workloads/hello-node/server.js

# Prints one "IMAGE_PATH HOST_FILE" line per file the Node.js workload needs: node, each
# shared library at the path ldd resolves it to, the dynamic loader at the path node asks
# for (its PT_INTERP, which ldd lists last), and the app as /app/server.js. HOST_FILE has
# its symlinks resolved, so copying it gives a regular file. When something is missing,
# prints nothing on stdout, one line on stderr naming the cause and the fix, and fails.
node_files() {
  local root=${1:?node_files needs the repository root} ldd_out line path
  [ -x "$NODE_BIN" ] || { echo "$NODE_BIN not found: install Node.js 20 there" >&2; return 1; }
  [ -f "$root/$NODE_APP" ] || { echo "$root/$NODE_APP not found: run from a complete shrinkwrap checkout" >&2; return 1; }
  ldd_out=$(ldd "$NODE_BIN" 2>/dev/null) \
    || { echo "ldd $NODE_BIN failed: it must be a dynamically linked x86_64 program" >&2; return 1; }
  if grep -q 'not found' <<<"$ldd_out"; then
    echo "ldd cannot resolve every library of $NODE_BIN: $(grep 'not found' <<<"$ldd_out" | tr -s ' \t\n' ' ')" >&2
    return 1
  fi
  echo "$NODE_BIN $(readlink -f "$NODE_BIN")"
  while read -r line; do
    case $line in
      *'=> /'*) path=${line#*=> }; path=${path%% (*} ;;  # libfoo.so.1 => /lib/.../libfoo.so.1 (0x...)
      /*) path=${line%% (*} ;;                          # the loader: /lib64/ld-linux-x86-64.so.2 (0x...)
      *) continue ;;                                     # linux-vdso.so.1: provided by the kernel
    esac
    echo "$path $(readlink -f "$path")"
  done <<<"$ldd_out"
  echo "/app/server.js $root/$NODE_APP"
}
