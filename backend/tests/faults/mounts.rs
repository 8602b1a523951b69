//! Filesystems the storage-fault tests mount for themselves and break: a small tmpfs filled up
//! with a file, and an ext4 image on a loop device made to fail as a dying disk does. Mounting
//! needs root.

use std::{
    fs::File,
    io::Write,
    path::{Path, PathBuf},
    process::Command,
};

use tokio::sync::MutexGuard;

use crate::support::one_at_a_time;

/// True when the test may mount filesystems (it runs as root). Otherwise says the test is
/// skipped and returns false, except under CI (`CI=true`), which runs as root: there it fails.
pub fn root_or_skip(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test} needs root to mount a filesystem, and CI runs as root"
    );
    eprintln!("*** SKIPPED: {test} needs root to mount a filesystem (run the tests as root) ***");
    false
}

/// The test's turn (see [`one_at_a_time`]) when it may mount filesystems; `None` when it is
/// skipped (see [`root_or_skip`]).
pub async fn turn_as_root(test: &str) -> Option<MutexGuard<'static, ()>> {
    let turn = one_at_a_time().await;
    root_or_skip(test).then_some(turn)
}

/// Runs a command to completion; its failure, with what it printed, as the error.
fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|error| format!("{program}: {error}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(format!(
            "{program} {}: {}: {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

fn text(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// A filesystem mounted on `dir`; unmounted when dropped (lazily when still busy), and its loop
/// device, if any, detached.
pub struct Mount {
    pub dir: PathBuf,
    loop_device: Option<String>,
    /// The image file behind the loop device, deleted once it is detached.
    image: Option<PathBuf>,
}

impl Mount {
    /// Mounts a tmpfs of `size` (as `mount -o size=` takes it, e.g. `8m`) on `dir`, creating
    /// `dir`.
    pub fn tmpfs(dir: &Path, size: &str) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let options = format!("size={size}");
        run(
            "mount",
            &["-t", "tmpfs", "-o", &options, "tmpfs", text(dir)],
        )
        .unwrap_or_else(|error| panic!("mount a tmpfs: {error}"));
        Self {
            dir: dir.to_owned(),
            loop_device: None,
            image: None,
        }
    }

    /// Hands the filesystem's root to the OS user `user` (and its group), mode 700.
    pub fn give_to(&self, user: &str) {
        run("chown", &[&format!("{user}:{user}"), text(&self.dir)]).unwrap();
        run("chmod", &["700", text(&self.dir)]).unwrap();
    }

    /// Makes an ext4 filesystem of `size` in the image file `image` and mounts it on `dir`
    /// through a loop device, with `errors=remount-ro` as a system disk is mounted. The image
    /// is deleted when this is dropped.
    pub fn ext4_image(image: &Path, dir: &Path, size: &str) -> Self {
        run("truncate", &["-s", size, text(image)]).unwrap();
        run("mkfs.ext4", &["-q", "-F", text(image)]).unwrap();
        let device = run("losetup", &["--find", "--show", text(image)])
            .unwrap_or_else(|error| panic!("attach a loop device: {error}"));
        std::fs::create_dir_all(dir).unwrap();
        // Made before mounting, so that the loop device is detached however this ends.
        let mount = Self {
            dir: dir.to_owned(),
            loop_device: Some(device.clone()),
            image: Some(image.to_owned()),
        };
        run("mount", &["-o", "errors=remount-ro", &device, text(dir)])
            .unwrap_or_else(|error| panic!("mount {device}: {error}"));
        mount
    }

    /// Makes the ext4 filesystem fail as a dying disk does: the kernel records an error and,
    /// under `errors=remount-ro`, turns the filesystem read-only at once (`emergency_ro`);
    /// every write to it then fails with EROFS.
    pub fn trigger_fs_error(&self) {
        let device = self.loop_device.as_deref().expect("an ext4 image");
        let name = device.trim_start_matches("/dev/");
        let trigger = format!("/sys/fs/ext4/{name}/trigger_fs_error");
        std::fs::write(&trigger, "1").unwrap_or_else(|error| panic!("write {trigger}: {error}"));
    }

    /// The mount's options, as /proc/mounts shows them.
    pub fn options(&self) -> String {
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
        mounts
            .lines()
            .map(|line| line.split(' ').collect::<Vec<_>>())
            .find(|fields| fields.get(1) == Some(&text(&self.dir)))
            .and_then(|fields| fields.get(3).map(|options| (*options).to_owned()))
            .unwrap_or_default()
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if let Err(error) = run("umount", &[text(&self.dir)]) {
            eprintln!("{error}; unmounting lazily");
            let _ = run("umount", &["-l", text(&self.dir)]);
        }
        if let Some(device) = &self.loop_device {
            // After a lazy unmount the device is busy: it is then detached once released.
            let _ = run("losetup", &["-d", device]);
        }
        if let Some(image) = &self.image {
            let _ = std::fs::remove_file(image);
        }
    }
}

/// A file that takes up the free space of its filesystem.
pub struct Filler {
    path: PathBuf,
}

impl Filler {
    /// Writes `path` until its filesystem refuses (ENOSPC), then gives `headroom` bytes back:
    /// the filesystem then has about that much space left.
    pub fn fill(path: PathBuf, headroom: u64) -> Self {
        const CHUNK: usize = 64 * 1024;
        let mut file = File::create(&path).unwrap();
        let chunk = vec![0x5a_u8; CHUNK];
        let mut written = 0_u64;
        // At most 4 GiB: the filesystems filled here are a few MiB.
        let mut full = false;
        for _ in 0..65_536 {
            match file.write(&chunk) {
                Ok(n) => written += n as u64,
                Err(error) if error.raw_os_error() == Some(libc::ENOSPC) => {
                    full = true;
                    break;
                }
                Err(error) => panic!("fill {}: {error}", path.display()),
            }
        }
        assert!(full, "{} never filled up", path.display());
        assert!(written > headroom, "only {written} bytes were free");
        file.set_len(written - headroom).unwrap();
        eprintln!(
            "filled {}: {written} bytes, then {headroom} given back",
            path.display()
        );
        Self { path }
    }

    /// Deletes the file: its space is free again.
    pub fn remove(&self) {
        std::fs::remove_file(&self.path).unwrap();
    }
}
