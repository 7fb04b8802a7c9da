//! `capture -Z USER`: give up root once the interface and the first `-w` file are open,
//! as tcpdump's `droproot`: initgroups (the user's supplementary groups, through
//! setgroups), setgid, setuid, in that order, and then make sure root cannot be taken back.

use std::ffi::{CStr, CString};
use std::path::Path;

/// Who the process runs as after the drop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dropped {
    pub user: String,
    pub uid: u32,
    pub gid: u32,
}

/// Whether the process runs with root's user id (real or effective).
pub fn is_root() -> bool {
    // SAFETY: getuid/geteuid cannot fail.
    unsafe { libc::getuid() == 0 || libc::geteuid() == 0 }
}

/// Drops to `user`, first giving it the files already open for writing (`owned`), so
/// that a ring can overwrite them and `-z` can read them. Only meaningful as root: the
/// caller says what it does otherwise.
pub fn drop_to(user: &str, owned: &[&Path]) -> Result<Dropped, String> {
    let name = CString::new(user).map_err(|_| format!("-Z {user:?}: not a user name"))?;
    let (uid, gid) = lookup(&name).ok_or_else(|| format!("-Z {user}: no such user"))?;
    for path in owned {
        let c = CString::new(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()))
            .map_err(|_| format!("{}: file name holds a NUL", path.display()))?;
        // SAFETY: a NUL-terminated path that outlives the call.
        if unsafe { libc::chown(c.as_ptr(), uid, gid) } != 0 {
            return Err(format!(
                "-Z {user}: cannot give {} to {user}: {}",
                path.display(),
                std::io::Error::last_os_error()
            ));
        }
    }
    let fail = |what: &str| {
        format!(
            "-Z {user}: {what} failed (uid {uid}, gid {gid}): {}",
            std::io::Error::last_os_error()
        )
    };
    // SAFETY: plain system calls with a NUL-terminated name; the order matters: once the
    // user id is dropped the groups can no longer be changed.
    unsafe {
        if libc::initgroups(name.as_ptr(), gid as _) != 0 {
            return Err(fail("initgroups"));
        }
        if libc::setgid(gid) != 0 {
            return Err(fail("setgid"));
        }
        if libc::setuid(uid) != 0 {
            return Err(fail("setuid"));
        }
        // setuid as root sets all three user ids; if root can be taken back the drop
        // did not happen.
        if uid != 0 && libc::setuid(0) == 0 {
            return Err(format!("-Z {user}: root could be regained after setuid"));
        }
    }
    Ok(Dropped {
        user: user.to_string(),
        uid,
        gid,
    })
}

/// The user's id and primary group.
fn lookup(name: &CStr) -> Option<(u32, u32)> {
    let mut buf = vec![0 as libc::c_char; 16 << 10];
    // SAFETY: `pwd` and `buf` outlive the call; `found` points into them or is null.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwnam_r(
            name.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut found,
        );
        if rc != 0 || found.is_null() {
            return None;
        }
        Some((pwd.pw_uid, pwd.pw_gid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_user_is_one_line() {
        let e = drop_to("no-such-user-synack", &[]).unwrap_err();
        assert_eq!(e, "-Z no-such-user-synack: no such user");
    }
}
