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
//!   one: tried at 1 MiB, 1 MiB echoes ran four times slower
//!   (`BENCH_ONLY="1 MiB echo" cargo bench --bench echo`, the threshold set
//!   through `GLIBC_TUNABLES` as below).
//!
//! The other way, calling `malloc_trim` when the load has gone, would need
//! `unsafe` code to reach glibc. Measured with
//! `cargo bench --bench load -- memory churn` (start, peak, 3 s after the
//! clients left): 5,000 connections 3 / 164 / 17 MiB (105 MiB left before);
//! 100 clients each sending 16 MiB − 64 KiB 3 / 392–507 / 15–23 MiB (151
//! MiB left before).
//!
//! What these settings do not bound is the peak under long messages: the
//! `--max-buffered` budget (256 MiB) counts the bytes of messages, and
//! glibc gives every few threads an arena of its own (up to eight per
//! CPU), each of which keeps the room its last long message left, freed
//! but resident, while the load lasts. So the overshoot grows with the
//! arenas times the message size, not with the budget: 392–507 MiB for
//! the 100 clients above, 1.5 to 2 times the budget; 271–303 MiB for 100
//! clients trickling 8 MiB + 64 KiB of a 16 MiB frame
//! (`cargo bench --bench load -- memory tricklers`, three runs). The
//! settings that bring both within the budget plus 25 % cost more than
//! they give, measured the same way (`GLIBC_TUNABLES=…`, which the server
//! inherits, after the three above; CPU time from `-- long_echoes`):
//!
//! * `arena_max=1`, one arena for every thread: 274–306 and 270–281 MiB,
//!   and no cost measured on small or 1 MiB messages (`cargo bench --bench
//!   echo`, 16 B round trips with 100 connections and 1 MiB echoes, ratios
//!   0.99 and 1.00 on one CPU). But the one arena is the program's first,
//!   which gives memory back only from its top: 5,000 connections that
//!   came and went leave 88–104 MiB behind instead of 17. With two arenas:
//!   311–386 and 281–292 MiB, and 50–57 MiB left; with four, 445 and 291.
//! * `mmap_threshold=4194304`, pages of its own for every block over
//!   4 MiB: 305 and 269 MiB (with 1 MiB steps), but the server's CPU time
//!   per 16 MiB echo goes from 6–8 ms to 27.5, as the kernel maps and
//!   zeroes the pages afresh for every message (at 8 MiB: 310 and 291 MiB,
//!   31 ms).
//!
//! An event loop has one thread, so one arena: chapter 13 peaks at
//! 255–261 and 259–263 MiB under the same two loads
//! (`LOAD_ECHO_SERVER=13-event-loop`, two runs).

use std::io;

/// What we ask of glibc's allocator (see the module's documentation).
pub const ALLOCATOR_SETTINGS: &str = "glibc.malloc.mxfast=0:\
glibc.malloc.trim_threshold=1048576:glibc.malloc.mmap_threshold=33554432";

/// Set in the environment of the program started again: it is started
/// again once at most, even where glibc drops `GLIBC_TUNABLES` (a program
/// given capabilities, such as `cap_net_bind_service` for a low port, runs
/// in glibc's secure mode), which would otherwise start it for ever.
pub const STARTED_AGAIN: &str = "WS_ALLOCATOR_TUNED";

/// Starts this program again, in place, with [`ALLOCATOR_SETTINGS`] added
/// to `GLIBC_TUNABLES`, unless this is the second time round
/// ([`STARTED_AGAIN`]), someone chose their own `mxfast`, or the allocator
/// is not glibc. Returns only if there is nothing to do, or if starting
/// again failed; the server then runs as it is, and keeps more memory after
/// a load.
pub fn tune_allocator() -> io::Result<()> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;

        let current = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
        if current.contains("glibc.malloc.mxfast") || std::env::var_os(STARTED_AGAIN).is_some() {
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
            .env(STARTED_AGAIN, "1")
            .exec())
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        Ok(())
    }
}
