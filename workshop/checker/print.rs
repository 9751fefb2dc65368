//! Printing that never panics: a program piped into `head` just stops
//! saying things, and goes on with its work. Shared by the workshop's
//! checker and the book's generator.

/// A line on stdout, unless nobody reads it.
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// A line on stderr, unless nobody reads it.
macro_rules! complain {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// Text on stdout with no line end, unless nobody reads it.
#[allow(unused_macros)]
macro_rules! say_inline {
    ($($arg:tt)*) => {{
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}
