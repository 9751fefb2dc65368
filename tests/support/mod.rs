//! What the test files share: a chapter binary run as a learner would run
//! it (`server`), the article's scenario (`article`), our own client driven
//! frame by frame (`our_client`), and tungstenite, an independent client
//! that shares no code with us (`independent`).

#![allow(dead_code)] // each test file uses its own share of these helpers

mod article;
mod independent;
mod our_client;
mod redis_server;
mod server;

// Likewise: a file that uses none of a module's helpers leaves its re-export unused.
#[allow(unused_imports)]
pub use article::*;
#[allow(unused_imports)]
pub use independent::*;
#[allow(unused_imports)]
pub use our_client::*;
#[allow(unused_imports)]
pub use redis_server::*;
pub use server::*;

/// Pins `text` in `snapshots/NAME.snap`.
#[macro_export]
macro_rules! assert_chapter_snapshot {
    ($name:expr, $text:expr) => {
        insta::with_settings!({
            snapshot_path => "../snapshots",
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!($name, $text);
        })
    };
}
