//! Scalars and one-line flow collections for the hand-written reader ([`super::scan`]):
//! plain scalars (over several lines, folded), single- and double-quoted scalars with their
//! escapes and folding, literal and folded block scalars with their chomping and indentation
//! indicators, and `[...]`/`{...}` on one line. Every function gives up (`None`) on what it is
//! not certain to read as the event-based path does.

use super::build::{is_plain_string, plain_value};
use super::scan::Reader;
use serde_json::{Map, Value};

impl Reader<'_> {
    /// A node that starts at `at` on a line already begun (after `key: ` or `- `), in a
    /// collection at column `col`. Leaves `self.pos` at the start of the next line.
    pub(super) fn inline_value(&mut self, at: usize, col: usize) -> Option<Value> {
        let value = match self.src[at] {
            b'|' | b'>' => Value::String(self.block_scalar(at, col)?),
            b'"' | b'\'' => {
                let (text, end, multi_line) = self.quoted(at, Some(col))?;
                if !multi_line && self.key_colon(self.skip_spaces(end)?) {
                    return None;
                }
                self.pos = self.end_of_line(end)?;
                Value::String(text)
            }
            b'[' | b'{' => {
                let (value, end) = self.flow(at)?;
                self.pos = self.end_of_line(end)?;
                return Some(value);
            }
            b'-' | b'?' | b':'
                if self
                    .src
                    .get(at + 1)
                    .is_none_or(|&b| b == b' ' || b == b'\n') =>
            {
                return None;
            }
            b',' | b']' | b'}' | b'#' | b'&' | b'*' | b'!' | b'%' | b'@' | b'`' => return None,
            _ => {
                let text = self.plain(at, col)?;
                plain_value(&text, self.limits)?
            }
        };
        self.count(1, 1)?;
        Some(value)
    }

    /// A plain scalar starting at `at`, continued on more indented lines (folded), in a
    /// collection at column `col`. Leaves `self.pos` at the start of the next line.
    fn plain(&mut self, at: usize, col: usize) -> Option<String> {
        let (end, comment) = self.plain_line(at)?;
        let first = self.text[at..end].trim_end_matches(' ');
        self.pos = self.next_line_start(end);
        if comment {
            return Some(first.to_owned());
        }
        let mut text: Option<String> = None;
        loop {
            // Blank lines, then a continuation line indented past the collection.
            let mut blank = 0;
            let mut line = self.pos;
            let indent = loop {
                let start = line;
                while self.src.get(line) == Some(&b' ') {
                    line += 1;
                }
                match self.src.get(line) {
                    Some(b'\n') => {
                        blank += 1;
                        line += 1;
                    }
                    Some(b'\t') => return None,
                    None | Some(b'#') => break 0,
                    Some(_) => break line - start,
                }
            };
            if indent <= col {
                break;
            }
            let (end, comment) = self.plain_line(line)?;
            let out = text.get_or_insert_with(|| first.to_owned());
            if blank == 0 {
                out.push(' ');
            }
            for _ in 0..blank {
                out.push('\n');
            }
            out.push_str(self.text[line..end].trim_end_matches(' '));
            self.pos = self.next_line_start(end);
            if comment {
                break;
            }
        }
        Some(text.unwrap_or_else(|| first.to_owned()))
    }

    /// The end of a plain scalar's text on its line, and whether a comment follows it.
    /// `None` at a tab or at `: ` (a key where none may be).
    fn plain_line(&self, at: usize) -> Option<(usize, bool)> {
        let mut i = at;
        loop {
            match self.src.get(i) {
                None | Some(b'\n') => return Some((i, false)),
                Some(b'\t') => return self.trailing_white(i),
                Some(b' ') if self.src.get(i + 1) == Some(&b'#') => return Some((i, true)),
                Some(b':') if self.key_colon(i) => return None,
                _ => i += 1,
            }
        }
    }

    /// A tab at `at` after a plain scalar's text: only white space or a comment may follow.
    fn trailing_white(&self, at: usize) -> Option<(usize, bool)> {
        let mut i = at;
        while matches!(self.src.get(i), Some(b' ' | b'\t')) {
            i += 1;
        }
        match self.src.get(i) {
            None | Some(b'\n') => Some((at, false)),
            Some(b'#') => Some((at, true)),
            _ => None,
        }
    }

    /// A quoted scalar that closes on its own line: its text and the end after the quote;
    /// `Some(None)` when it goes on to the next line.
    pub(super) fn quoted_on_line(&self, at: usize) -> Option<Option<(String, usize)>> {
        let end = self.next_line_start(at);
        let line_end = if self.src.get(end - 1) == Some(&b'\n') {
            end - 1
        } else {
            end
        };
        let quote = self.src[at];
        let closes = self.src[at + 1..line_end].contains(&quote);
        if !closes {
            return Some(None);
        }
        let (text, end, multi_line) = self.quoted(at, None)?;
        Some((!multi_line).then_some((text, end)))
    }

    /// A quoted scalar at `at`: its text, the end after the closing quote, and whether it
    /// spans lines. `col` is the column of the enclosing collection, which continuation
    /// lines must be indented past; `None` when it must close on its line.
    fn quoted(&self, at: usize, col: Option<usize>) -> Option<(String, usize, bool)> {
        let double = self.src[at] == b'"';
        let mut out = String::new();
        // Escaped characters are never trimmed before a line break.
        let mut floor = 0;
        let mut i = at + 1;
        let mut multi_line = false;
        loop {
            let run = i;
            while let Some(&b) = self.src.get(i) {
                if b == b'\'' || b == b'"' || b == b'\\' || b == b'\n' || b == b'\t' {
                    break;
                }
                i += 1;
            }
            out.push_str(&self.text[run..i]);
            match self.src.get(i)? {
                b'\'' if !double => {
                    if self.src.get(i + 1) == Some(&b'\'') {
                        out.push('\'');
                        i += 2;
                        floor = out.len();
                    } else {
                        return Some((out, i + 1, multi_line));
                    }
                }
                b'"' if double => return Some((out, i + 1, multi_line)),
                b'\\' if double => {
                    i = self.escape(i + 1, &mut out, col)?;
                    floor = out.len();
                }
                b'\n' => {
                    let trimmed = out.trim_end_matches(' ').len().max(floor);
                    out.truncate(trimmed);
                    i = self.fold(i, col?, &mut out)?;
                    multi_line = true;
                }
                b'\t' => return None,
                &other => {
                    out.push(char::from(other));
                    i += 1;
                }
            }
        }
    }

    /// Folds the line break at `at` inside a quoted scalar: blank lines become line feeds,
    /// a single break a space. Returns where the next line's text starts.
    fn fold(&self, at: usize, col: usize, out: &mut String) -> Option<usize> {
        let (line, blank) = self.continuation(at + 1, col)?;
        if blank == 0 {
            out.push(' ');
        }
        for _ in 0..blank {
            out.push('\n');
        }
        Some(line)
    }

    /// From a line start, skips blank lines to a line indented past `col`: where its text
    /// starts and how many blank lines came before. `None` at a tab, the end of the text or
    /// a line not indented enough.
    fn continuation(&self, from: usize, col: usize) -> Option<(usize, usize)> {
        let mut blank = 0;
        let mut line = from;
        loop {
            let start = line;
            while self.src.get(line) == Some(&b' ') {
                line += 1;
            }
            match self.src.get(line)? {
                b'\n' => {
                    blank += 1;
                    line += 1;
                }
                b'\t' => return None,
                _ if line - start > col => return Some((line, blank)),
                _ => return None,
            }
        }
    }

    /// One escape of a double-quoted scalar, `at` after the backslash; returns where the
    /// text goes on.
    fn escape(&self, at: usize, out: &mut String, col: Option<usize>) -> Option<usize> {
        let c = *self.src.get(at)?;
        let simple = match c {
            b'0' => '\0',
            b'a' => '\x07',
            b'b' => '\x08',
            b't' | b'\t' => '\t',
            b'n' => '\n',
            b'v' => '\x0b',
            b'f' => '\x0c',
            b'r' => '\r',
            b'e' => '\x1b',
            b' ' => ' ',
            b'"' => '"',
            b'/' => '/',
            b'\\' => '\\',
            b'N' => '\u{85}',
            b'_' => '\u{a0}',
            b'L' => '\u{2028}',
            b'P' => '\u{2029}',
            b'x' | b'u' | b'U' => {
                let len = match c {
                    b'x' => 2,
                    b'u' => 4,
                    _ => 8,
                };
                let hex = self.text.get(at + 1..at + 1 + len)?;
                if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return None;
                }
                out.push(char::from_u32(u32::from_str_radix(hex, 16).ok()?)?);
                return Some(at + 1 + len);
            }
            b'\n' => {
                // An escaped line break: the next line joins without a space. Blank lines
                // after it are left to the event-based path.
                let (line, blank) = self.continuation(at + 1, col?)?;
                return (blank == 0).then_some(line);
            }
            _ => return None,
        };
        out.push(simple);
        Some(at + 1)
    }

    /// A `|` or `>` block scalar whose indicator is at `at`, in a collection at column `col`.
    /// Mirrors the scanner of the event-based path, with a block scalar at the end of the
    /// input read without an added line break. Leaves `self.pos` at the next line's start.
    fn block_scalar(&mut self, at: usize, col: usize) -> Option<String> {
        let literal = self.src[at] == b'|';
        let (chomp, increment, header_end) = self.block_header(at + 1)?;
        let mut indent = if increment > 0 { col + increment } else { 0 };
        let mut out = String::new();
        let mut trailing_breaks = 0;
        let (mut line, mut i) = self.block_breaks(
            self.end_of_line(header_end)?,
            &mut indent,
            col,
            &mut trailing_breaks,
        )?;
        let (mut leading_break, mut leading_blank) = (false, false);
        while i - line == indent && i < self.src.len() {
            let trailing_blank = matches!(self.src[i], b' ' | b'\t');
            if !literal && leading_break && !leading_blank && !trailing_blank {
                if trailing_breaks == 0 {
                    out.push(' ');
                }
            } else if leading_break {
                out.push('\n');
            }
            for _ in 0..trailing_breaks {
                out.push('\n');
            }
            trailing_breaks = 0;
            leading_blank = trailing_blank;
            let end = self.next_line_start(i);
            if self.src[end - 1] != b'\n' {
                // The last line, without a line break.
                out.push_str(&self.text[i..end]);
                leading_break = false;
                line = end;
                break;
            }
            out.push_str(&self.text[i..end - 1]);
            leading_break = true;
            (line, i) = self.block_breaks(end, &mut indent, col, &mut trailing_breaks)?;
        }
        if chomp >= 0 && leading_break {
            out.push('\n');
        }
        if chomp > 0 {
            for _ in 0..trailing_breaks {
                out.push('\n');
            }
        }
        self.pos = line;
        Some(out)
    }

    /// A block scalar header's chomping (-1 strip, 0 clip, 1 keep) and indentation
    /// indicator, and where the header ends.
    fn block_header(&self, at: usize) -> Option<(i8, usize, usize)> {
        let (mut chomp, mut increment, mut i) = (0i8, 0usize, at);
        for _ in 0..2 {
            match self.src.get(i) {
                Some(b'+') if chomp == 0 => chomp = 1,
                Some(b'-') if chomp == 0 => chomp = -1,
                Some(&d @ b'1'..=b'9') if increment == 0 => increment = usize::from(d - b'0'),
                Some(b'0') => return None,
                _ => break,
            }
            i += 1;
        }
        Some((chomp, increment, i))
    }

    /// Skips a block scalar's indentation and blank lines from the line start `at`,
    /// counting the blank lines; settles the indentation on the first call (`indent` 0).
    /// Returns the start of the line it stops at and the position after its indentation.
    fn block_breaks(
        &self,
        at: usize,
        indent: &mut usize,
        col: usize,
        breaks: &mut usize,
    ) -> Option<(usize, usize)> {
        let detect = *indent == 0;
        let mut line = at;
        let mut widest_blank = 0;
        loop {
            let mut i = line;
            while self.src.get(i) == Some(&b' ') && (detect || i - line < *indent) {
                i += 1;
            }
            match self.src.get(i) {
                Some(b'\t') if detect || i - line < *indent => return None,
                Some(b'\n') => {
                    widest_blank = widest_blank.max(i - line);
                    *breaks += 1;
                    line = i + 1;
                }
                _ => {
                    if detect {
                        let first = i - line;
                        // Blank lines wider than the first text line: an error the
                        // event-based path words.
                        if widest_blank > first && i < self.src.len() {
                            return None;
                        }
                        *indent = widest_blank.max(first).max(col + 1);
                    }
                    return Some((line, i));
                }
            }
        }
    }

    /// A flow collection on one line starting at `at` (`[` or `{`): its value and the end
    /// after its closing bracket.
    pub(super) fn flow(&mut self, at: usize) -> Option<(Value, usize)> {
        self.enter()?;
        let mapping = self.src[at] == b'{';
        let close = if mapping { b'}' } else { b']' };
        let mut map = Map::new();
        let mut items = Vec::new();
        let mut i = self.skip_spaces(at + 1)?;
        if self.src.get(i) != Some(&close) {
            loop {
                if mapping {
                    let (key, after) = self.flow_key(i)?;
                    self.count(1, 1)?;
                    let (value, end) = self.flow_node(self.skip_spaces(after)?)?;
                    if map.insert(key, value).is_some() {
                        return None;
                    }
                    i = end;
                } else {
                    let (value, end) = self.flow_node(i)?;
                    items.push(value);
                    i = end;
                }
                i = self.skip_spaces(i)?;
                match self.src.get(i)? {
                    b',' => i = self.skip_spaces(i + 1)?,
                    &b if b == close => break,
                    _ => return None,
                }
            }
        }
        self.leave();
        let value = if mapping {
            Value::Object(map)
        } else {
            Value::Array(items)
        };
        Some((value, i + 1))
    }

    /// A flow mapping's key at `at` and where its value starts (after `: `).
    fn flow_key(&self, at: usize) -> Option<(String, usize)> {
        let (key, end) = match self.src.get(at)? {
            b'"' | b'\'' => self.quoted_on_line(at)??,
            _ => {
                let end = self.flow_plain_end(at)?;
                let key = self.text[at..end].trim_end_matches(' ');
                if key == "<<" || !is_plain_string(key) || key.len() > 1024 {
                    return None;
                }
                (key.to_owned(), end)
            }
        };
        let colon = self.skip_spaces(end)?;
        (self.src.get(colon) == Some(&b':') && self.src.get(colon + 1) == Some(&b' '))
            .then_some((key, colon + 1))
    }

    /// A node inside a flow collection: a scalar or a nested collection, never empty.
    fn flow_node(&mut self, at: usize) -> Option<(Value, usize)> {
        match self.src.get(at)? {
            b'[' | b'{' => self.flow(at),
            b'"' | b'\'' => {
                let (text, end) = self.quoted_on_line(at)??;
                self.count(1, 1)?;
                Some((Value::String(text), end))
            }
            _ => {
                let end = self.flow_plain_end(at)?;
                let text = self.text[at..end].trim_end_matches(' ');
                // An entry that is a mapping (`[a: b]`) is left to the event-based path.
                if text.is_empty() || self.src.get(end) == Some(&b':') {
                    return None;
                }
                self.count(1, 1)?;
                Some((plain_value(text, self.limits)?, end))
            }
        }
    }

    /// The end of a plain scalar in a flow collection: before `,[]{}`, a `:` that ends it,
    /// a comment or the end of the line.
    fn flow_plain_end(&self, at: usize) -> Option<usize> {
        match self.src.get(at)? {
            b'-' | b'?' | b':'
                if matches!(
                    self.src.get(at + 1)?,
                    b' ' | b'\t' | b'\n' | b',' | b'[' | b']' | b'{' | b'}'
                ) =>
            {
                return None;
            }
            b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|' | b'>' | b'%'
            | b'@' | b'`' | b'"' | b'\'' | b'\n' | b' ' => return None,
            _ => {}
        }
        let mut i = at;
        loop {
            match self.src.get(i) {
                None | Some(b'\n' | b',' | b'[' | b']' | b'{' | b'}') => return Some(i),
                Some(b'\t') => return None,
                Some(b' ') if self.src.get(i + 1) == Some(&b'#') => return None,
                Some(b':')
                    if matches!(
                        self.src.get(i + 1),
                        None | Some(b' ' | b'\n' | b',' | b'[' | b']' | b'{' | b'}')
                    ) =>
                {
                    return Some(i);
                }
                _ => i += 1,
            }
        }
    }
}
