//! The fetch watchdog: a thread that raises gix's interrupt flag when the object database
//! grows past the size limit, the deadline passes, or the caller cancels.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant};

/// Why the watchdog raised the interrupt flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tripped {
    No,
    SizeLimit,
    Deadline,
    Cancelled,
}

/// A thread that raises the fetch's interrupt flag when the object database grows past the
/// limit, the deadline passes, or the caller cancels.
pub(crate) struct Watchdog {
    pub(crate) interrupt: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
    tripped: Arc<AtomicU8>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    pub(crate) fn start(
        objects: PathBuf,
        max_bytes: u64,
        deadline: Instant,
        cancel: Arc<AtomicBool>,
    ) -> Self {
        let interrupt = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicBool::new(false));
        let tripped = Arc::new(AtomicU8::new(0));
        let handle = {
            let (interrupt, done, tripped) = (interrupt.clone(), done.clone(), tripped.clone());
            std::thread::Builder::new()
                .name("tether-fetch-watchdog".to_owned())
                .spawn(move || {
                    while !done.load(Ordering::Acquire) {
                        let why = if cancel.load(Ordering::Acquire) {
                            Some(Tripped::Cancelled)
                        } else if Instant::now() >= deadline {
                            Some(Tripped::Deadline)
                        } else if dir_size(&objects) > max_bytes {
                            Some(Tripped::SizeLimit)
                        } else {
                            None
                        };
                        if let Some(why) = why {
                            tripped.store(why as u8, Ordering::Release);
                            interrupt.store(true, Ordering::Release);
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(20));
                    }
                })
                .ok()
        };
        Self {
            interrupt,
            done,
            tripped,
            handle,
        }
    }

    pub(crate) fn stop(mut self) -> Tripped {
        self.done.store(true, Ordering::Release);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
        match self.tripped.load(Ordering::Acquire) {
            1 => Tripped::SizeLimit,
            2 => Tripped::Deadline,
            3 => Tripped::Cancelled,
            _ => Tripped::No,
        }
    }
}

/// The total size of the regular files under `dir` (0 when it cannot be read).
pub(crate) fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                total += meta.len();
            }
        }
    }
    total
}
