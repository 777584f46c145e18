//! appliance-init: PID 1 of the shrinkwrap Linux appliance (a Lupine-style microVM).
//!
//! It does the little an init must do for a network server, then becomes the workload:
//! mounts /proc, brings `lo` up, gives `eth0` the address QEMU's user-mode network expects
//! (10.0.2.15/24, default route via 10.0.2.2), and execs the command in
//! `/etc/appliance/cmd` (one argument per line), so the workload itself runs as PID 1.
//! On failure it says why on the console and resets the VM, which QEMU run with
//! `-no-reboot` turns into an exit instead of a hang.

use std::convert::Infallible;
use std::ffi::CString;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

/// The workload's command line: the program's absolute path, then its arguments, one per line.
const COMMAND_FILE: &str = "/etc/appliance/cmd";
const INTERFACE: &str = "eth0";
const ADDRESS: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 15);
const NETMASK: Ipv4Addr = Ipv4Addr::new(255, 255, 255, 0);
const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);

fn main() {
    let Err(error) = run();
    eprintln!("init: {error}");
    reset()
}

/// Prepares the VM and execs the workload; returns only with the reason it could not.
fn run() -> Result<Infallible, String> {
    mount_proc()?;
    let command = read_command()?;
    let socket = ControlSocket::open()?;
    socket.bring_up("lo")?;
    socket.bring_up(INTERFACE)?;
    socket.set_address(INTERFACE, libc::SIOCSIFADDR, ADDRESS)?;
    socket.set_address(INTERFACE, libc::SIOCSIFNETMASK, NETMASK)?;
    socket.add_default_route(GATEWAY)?;
    println!(
        "init: network up ({INTERFACE} {ADDRESS}/24, gateway {GATEWAY}); exec {}",
        command.join(" ")
    );
    let error = Command::new(&command[0]).args(&command[1..]).exec();
    Err(format!("cannot exec {}: {error}", command[0]))
}

/// Mounts procfs on /proc (the directory comes with the initramfs); fine if already there.
fn mount_proc() -> Result<(), String> {
    let c = |s: &str| CString::new(s).expect("no NUL in a literal");
    let (source, target, fstype) = (c("proc"), c("/proc"), c("proc"));
    // SAFETY: every pointer is a NUL-terminated string that outlives the call; no data.
    let result = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    let error = io::Error::last_os_error();
    if result == 0 || error.raw_os_error() == Some(libc::EBUSY) {
        Ok(())
    } else {
        Err(format!(
            "cannot mount /proc: {error} (is CONFIG_PROC_FS set?)"
        ))
    }
}

/// Reads the workload's command line from `COMMAND_FILE`.
fn read_command() -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(COMMAND_FILE)
        .map_err(|e| format!("cannot read {COMMAND_FILE}: {e} (the image recipe writes it)"))?;
    let command: Vec<String> = text.lines().map(str::to_owned).collect();
    match command.first() {
        Some(program) if program.starts_with('/') => Ok(command),
        _ => Err(format!(
            "{COMMAND_FILE} must start with the program's absolute path"
        )),
    }
}

/// An `AF_INET` datagram socket: the handle through which interfaces and routes are set.
struct ControlSocket(OwnedFd);

impl ControlSocket {
    fn open() -> Result<Self, String> {
        // SAFETY: plain system call; the descriptor is owned from here on.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            let error = io::Error::last_os_error();
            return Err(format!(
                "cannot open an AF_INET socket: {error} (is CONFIG_INET set?)"
            ));
        }
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        Ok(Self(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Issues one ioctl whose argument is `arg`; `what` names it in the error.
    fn ioctl<T>(&self, request: libc::c_ulong, arg: &mut T, what: &str) -> Result<(), String> {
        // SAFETY: `arg` is the structure (ifreq or rtentry) that `request` reads and writes.
        let result = unsafe { libc::ioctl(self.0.as_raw_fd(), request, std::ptr::from_mut(arg)) };
        if result < 0 {
            return Err(format!("{what}: {}", io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Sets the `IFF_UP` flag of `interface`, keeping its other flags.
    fn bring_up(&self, interface: &str) -> Result<(), String> {
        let mut request = interface_request(interface);
        let missing = if interface == INTERFACE {
            " (no network device: attach virtio-net, e.g. -device virtio-net-device or virtio-net-pci)"
        } else {
            ""
        };
        self.ioctl(
            libc::SIOCGIFFLAGS,
            &mut request,
            &format!("cannot find {interface}{missing}"),
        )?;
        // SAFETY: SIOCGIFFLAGS has just filled in the flags member of the union.
        unsafe { request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
        self.ioctl(
            libc::SIOCSIFFLAGS,
            &mut request,
            &format!("cannot bring {interface} up"),
        )
    }

    /// Sets an IPv4 address of `interface`: `request` is SIOCSIFADDR or SIOCSIFNETMASK.
    fn set_address(
        &self,
        interface: &str,
        request: libc::c_ulong,
        address: Ipv4Addr,
    ) -> Result<(), String> {
        let mut ifreq = interface_request(interface);
        ifreq.ifr_ifru.ifru_addr = inet_sockaddr(address);
        self.ioctl(
            request,
            &mut ifreq,
            &format!("cannot give {interface} {address}"),
        )
    }

    /// Adds a default route through `gateway`.
    fn add_default_route(&self, gateway: Ipv4Addr) -> Result<(), String> {
        // SAFETY: rtentry is plain data; all-zero is valid (a null rt_dev lets the kernel
        // pick the interface that reaches the gateway).
        let mut route: libc::rtentry = unsafe { std::mem::zeroed() };
        route.rt_dst = inet_sockaddr(Ipv4Addr::UNSPECIFIED);
        route.rt_genmask = inet_sockaddr(Ipv4Addr::UNSPECIFIED);
        route.rt_gateway = inet_sockaddr(gateway);
        route.rt_flags = libc::RTF_UP | libc::RTF_GATEWAY;
        self.ioctl(
            libc::SIOCADDRT,
            &mut route,
            &format!("cannot add a default route via {gateway}"),
        )
    }
}

/// An ifreq naming `interface`, everything else zero.
fn interface_request(interface: &str) -> libc::ifreq {
    // SAFETY: ifreq is plain data; all-zero is valid.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(interface.bytes()) {
        *slot = byte.cast_signed();
    }
    request
}

/// `address` as the generic sockaddr the interface and route ioctls take.
fn inet_sockaddr(address: Ipv4Addr) -> libc::sockaddr {
    let inet = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(address).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: sockaddr_in and sockaddr have the same size (checked by transmute) and
    // sockaddr_in is how the kernel reads an AF_INET sockaddr.
    unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(inet) }
}

/// Resets the VM. A power-off would halt instead without ACPI (the kernel has none), and a
/// halted VM keeps QEMU running; a reset makes QEMU started with `-no-reboot` exit.
fn reset() -> ! {
    eprintln!("init: resetting the VM (QEMU exits if started with -no-reboot)");
    // SAFETY: plain system call; nothing is left to flush (no disks).
    unsafe { libc::reboot(libc::RB_AUTOBOOT) };
    // Only if the reset was refused: init exiting panics the kernel, and the appliance
    // kernel resets on panic (CONFIG_PANIC_TIMEOUT=-1).
    std::process::exit(1)
}
