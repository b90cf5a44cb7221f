//! systemd readiness notification (`sd_notify(3)`), without libsystemd.
//!
//! A unit with `Type=notify` starts the service with `$NOTIFY_SOCKET` naming
//! a datagram socket: a path, or an abstract name written with a leading
//! `@`. Sending `READY=1` there tells systemd that start-up is complete.
//! Without the variable (a shell, a test, another init) nothing is sent.

use std::ffi::OsString;
use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// The environment variable systemd sets for `Type=notify` services.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Tells the service manager that the appliance is ready (listening).
///
/// Does nothing when `$NOTIFY_SOCKET` is unset or empty. A failure to
/// notify is logged, never fatal: the appliance serves either way, and
/// systemd reports the start as failed by itself if it never hears back.
pub fn notify_ready() {
    if let Err(e) = notify("READY=1") {
        tracing::warn!("could not notify systemd of readiness: {e}");
    }
}

/// Sends `state` (e.g. `"READY=1"`, `"STOPPING=1"`) to the socket named by
/// `$NOTIFY_SOCKET`. Returns `Ok(false)` when the variable is unset.
pub fn notify(state: &str) -> io::Result<bool> {
    notify_socket(std::env::var_os(NOTIFY_SOCKET), state)
}

/// [`notify`] with the variable's value passed in (`None`: unset).
fn notify_socket(var: Option<OsString>, state: &str) -> io::Result<bool> {
    match var {
        Some(name) if !name.is_empty() => {
            let name = name.into_string().map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "NOTIFY_SOCKET is not valid UTF-8",
                )
            })?;
            notify_to(&name, state)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Sends `state` to the socket called `name` (a path, or `@name` for an
/// abstract socket).
pub fn notify_to(name: &str, state: &str) -> io::Result<()> {
    let addr = socket_addr(name)?;
    let sock = UnixDatagram::unbound()?;
    let sent = sock.send_to_addr(state.as_bytes(), &addr)?;
    if sent != state.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("sent {sent} of {} bytes", state.len()),
        ));
    }
    Ok(())
}

fn socket_addr(name: &str) -> io::Result<SocketAddr> {
    if let Some(abstract_name) = name.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        SocketAddr::from_abstract_name(abstract_name.as_bytes())
    } else if name.starts_with('/') {
        SocketAddr::from_pathname(name)
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("NOTIFY_SOCKET {name:?} is neither an absolute path nor @abstract"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn recv(sock: &UnixDatagram) -> String {
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 64];
        let n = sock.recv(&mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn sends_ready_to_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let sock = UnixDatagram::bind(&path).unwrap();
        notify_to(path.to_str().unwrap(), "READY=1").unwrap();
        assert_eq!(recv(&sock), "READY=1");
    }

    #[test]
    fn sends_ready_to_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!(
            "evote-notify-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        );
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let sock = UnixDatagram::bind_addr(&addr).unwrap();
        notify_to(&format!("@{name}"), "READY=1").unwrap();
        assert_eq!(recv(&sock), "READY=1");
    }

    #[test]
    fn refuses_a_relative_name_and_reports_a_missing_socket() {
        assert!(notify_to("relative.sock", "READY=1").is_err());
        let dir = tempfile::tempdir().unwrap();
        assert!(notify_to(dir.path().join("absent").to_str().unwrap(), "READY=1").is_err());
    }

    // `std::env::set_var` is `unsafe` in edition 2024 (and unsafe code is
    // forbidden here), so the variable's value is passed in.
    #[test]
    fn follows_the_variable_and_does_nothing_without_it() {
        assert!(!notify_socket(None, "READY=1").unwrap());
        assert!(!notify_socket(Some(OsString::new()), "READY=1").unwrap());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("env.sock");
        let sock = UnixDatagram::bind(&path).unwrap();
        assert!(notify_socket(Some(path.clone().into_os_string()), "READY=1").unwrap());
        assert_eq!(recv(&sock), "READY=1");
    }
}
