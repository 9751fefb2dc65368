//! How fast unmasking runs: `mask::apply_bytewise` (the RFC's rule, one
//! byte at a time) against `mask::apply` (eight bytes at a time).
//!
//! `taskset -c 0 cargo bench --bench mask` prints GB/s (10^9 bytes per
//! second) for three sizes: 16 KiB fits in the first-level cache, so it
//! measures the loop itself; 1 MiB fits in the second-level cache, whose
//! bandwidth then sets the limit for any loop; 16 MiB does not fit in
//! either, and measures memory as much as masking.

use std::hint::black_box;
use std::time::{Duration, Instant};

use websocket_from_scratch::protocol::mask;

const KEY: [u8; 4] = [80, 191, 161, 254];

/// Runs `f` over `data` again and again for about `budget` and returns the
/// best rate of several batches, in GB/s: the best batch is the one least
/// disturbed by anything else on the machine.
fn measure(f: fn([u8; 4], &mut [u8]), data: &mut [u8], budget: Duration) -> f64 {
    // Touch every page first, and warm the cache and branch predictors.
    for _ in 0..3 {
        f(black_box(KEY), black_box(&mut *data));
    }
    let mut best: f64 = 0.0;
    let start = Instant::now();
    let mut repeats = 1;
    while start.elapsed() < budget {
        let batch = Instant::now();
        for _ in 0..repeats {
            f(black_box(KEY), black_box(&mut *data));
        }
        let seconds = batch.elapsed().as_secs_f64();
        best = best.max((data.len() * repeats) as f64 / seconds / 1e9);
        // Batches of about 20 ms: long enough for the clock, short enough
        // to get many of them.
        if seconds < 0.02 {
            repeats *= 2;
        }
    }
    best
}

fn main() {
    println!(
        "{:<8} {:>16} {:>16} {:>8}",
        "size", "bytewise GB/s", "apply GB/s", "speed-up"
    );
    for (label, size) in [
        ("16 KiB", 16 << 10),
        ("1 MiB", 1 << 20),
        ("16 MiB", 16 << 20),
    ] {
        let mut data: Vec<u8> = (0..size).map(|i: usize| (i * 7 + 3) as u8).collect();
        let budget = Duration::from_millis(1500);
        let bytewise = measure(mask::apply_bytewise, &mut data, budget);
        let fast = measure(mask::apply, &mut data, budget);
        println!(
            "{label:<8} {bytewise:>16.1} {fast:>16.1} {:>7.1}x",
            fast / bytewise
        );
    }
}
