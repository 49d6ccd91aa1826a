//! Quoting input in messages: an error names the name, key, path or value it refuses, but
//! never more than a few hundred bytes of it, so that a 2 MB name cannot make a 2 MB error
//! (printed again in status, Events, logs and plans).

use std::borrow::Cow;
use std::fmt;

/// The most bytes of one input an error quotes.
pub const MAX_QUOTED_BYTES: usize = 256;

/// The most bytes of a whole message (status, Events, logs, plan lines), which may quote
/// several inputs.
pub const MAX_MESSAGE_BYTES: usize = 2048;

/// `text` cut to at most `max` bytes (at a character boundary), followed by a mark that says
/// how long it was; unchanged when it is short enough.
#[must_use]
pub fn clip_to(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}…({} bytes)", &text[..end], text.len()))
}

/// One input quoted in an error: at most [`MAX_QUOTED_BYTES`] of it.
#[must_use]
pub fn clip(text: &str) -> Cow<'_, str> {
    clip_to(text, MAX_QUOTED_BYTES)
}

/// A whole message: at most [`MAX_MESSAGE_BYTES`] of it.
#[must_use]
pub fn clip_message(text: &str) -> Cow<'_, str> {
    clip_to(text, MAX_MESSAGE_BYTES)
}

/// Displays an input clipped by [`clip`], for `format!` and `#[error(...)]` strings.
pub struct Clipped<'a>(pub &'a str);

impl fmt::Display for Clipped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&clip(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_quoted_whole_and_long_text_is_cut_with_its_length() {
        assert_eq!(clip("web"), "web");
        let long = "n".repeat(2_000_000);
        let cut = clip(&long);
        assert!(cut.len() < MAX_QUOTED_BYTES + 32, "{}", cut.len());
        assert!(cut.ends_with("…(2000000 bytes)"), "{cut}");
        // Never inside a character.
        let wide = "é".repeat(1000);
        let cut = clip(&wide);
        assert!(cut.starts_with("éé"));
        assert_eq!(Clipped(&long).to_string(), clip(&long));
        assert!(clip_message(&long).len() < MAX_MESSAGE_BYTES + 32);
    }
}
