//! Giving freed memory back to the system once a load has gone.
//!
//! A server that freed every byte of a load can still hold it: the memory
//! stays with the C library's allocator (glibc's `malloc`, which Rust's
//! default allocator calls on Linux), ready for the next allocation, and
//! the process's resident size (RSS) stays where the peak left it. Two of
//! glibc's habits do that to a thread-per-connection server:
//!
//! * **Fast bins.** Small freed blocks are parked, not merged with their
//!   free neighbours, so an arena (glibc keeps one per few threads) cannot
//!   shrink past them. After 5,000 connections came and went, chapter 10
//!   kept 105 MiB of the 163 MiB they had used.
//! * **A threshold that moves.** Blocks above a threshold (128 KiB at
//!   first) get pages of their own from the kernel, and give them back
//!   when freed. But freeing such a block raises the threshold to its size
//!   (up to 32 MiB), and with it the free room an arena keeps at its top
//!   before it gives any back (to twice that). After 100 clients had each
//!   sent a 16 MiB message, chapter 10 kept 151 MiB.
//!
//! Both are settings, read from the `GLIBC_TUNABLES` environment variable
//! once, when a process starts. Operators of Ruby and Java servers set such
//! variables by hand (`MALLOC_ARENA_MAX=2` is the famous one); a running
//! process can no longer change them, so [`tune_allocator`] starts the same
//! program again in place (`exec`: same process id, same arguments, same
//! open files) with [`ALLOCATOR_SETTINGS`] added:
//!
//! * `mxfast=0`: no fast bins; a freed block merges with its free
//!   neighbours at once, so an arena can shrink;
//! * `trim_threshold=1 MiB`: an arena gives its free top back to the
//!   kernel once that exceeds 1 MiB;
//! * `mmap_threshold=32 MiB`: fixed, so that it (and the trim threshold
//!   with it) no longer moves. Messages up to the default 16 MiB limit come
//!   from the arenas, which reuse their pages from one message to the
//!   next. A lower threshold would give every large message pages of its
//!   own, and the kernel would have to map and zero them afresh for each
//!   one: tried at 1 MiB, 1 MiB echoes ran four times slower.
//!
//! The other way, calling `malloc_trim` when the load has gone, would need
//! `unsafe` code to reach glibc. Measured with
//! `cargo bench --bench load -- memory churn` (start, peak, 3 s after the
//! clients left): 5,000 connections 3 / 163 / 17 MiB (105 MiB left before);
//! 100 clients each sending 16 MiB 3 / 468 / 27 MiB (151 MiB left before).
//! The peak of the second is above the 256 MiB `--max-buffered` budget:
//! the budget counts the bytes of messages, and the allocator holds free
//! room between them while the load lasts.

use std::io;

/// What we ask of glibc's allocator (see the module's documentation).
pub const ALLOCATOR_SETTINGS: &str = "glibc.malloc.mxfast=0:\
glibc.malloc.trim_threshold=1048576:glibc.malloc.mmap_threshold=33554432";

/// Starts this program again, in place, with [`ALLOCATOR_SETTINGS`] added
/// to `GLIBC_TUNABLES`, unless they are there already (the second time
/// round), someone chose their own `mxfast`, or the allocator is not glibc.
/// Returns only if there is nothing to do, or if starting again failed; the
/// server then runs as it is, and keeps more memory after a load.
pub fn tune_allocator() -> io::Result<()> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;

        let current = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
        if current.contains("glibc.malloc.mxfast") {
            return Ok(());
        }
        let tunables = if current.is_empty() {
            ALLOCATOR_SETTINGS.to_string()
        } else {
            format!("{current}:{ALLOCATOR_SETTINGS}")
        };
        let program = std::env::current_exe()?;
        let mut arguments = std::env::args_os();
        let mut command = std::process::Command::new(program);
        if let Some(name) = arguments.next() {
            command.arg0(name);
        }
        // `exec` replaces this process and returns only on failure.
        Err(command
            .args(arguments)
            .env("GLIBC_TUNABLES", tunables)
            .exec())
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        Ok(())
    }
}
