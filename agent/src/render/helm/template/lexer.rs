//! The lexer of Go's `text/template`: text, actions with trim markers, comments, the
//! tokens inside actions and the number literals among them.

use super::{TemplateError, Value};

/// A token inside an action, or a run of text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// Text between actions (already trimmed by `{{-` / `-}}`).
    Text(std::sync::Arc<str>),
    /// `{{` (the trim marker already applied).
    Open,
    /// `}}`.
    Close,
    /// A keyword or function name.
    Ident(String),
    /// `.Field` (one segment).
    Field(String),
    /// `$name` (`$` alone is the root variable).
    Var(String),
    /// `.` alone.
    Dot,
    /// A quoted or raw string, unescaped.
    Str(String),
    /// A character constant `'a'` (a number in Go).
    Char(i64),
    /// A number literal, as written.
    Number(String),
    /// `true` / `false`.
    Bool(bool),
    /// `nil`.
    Nil,
    /// `(`.
    LParen,
    /// `)`.
    RParen,
    /// `|`.
    Pipe,
    /// `:=`.
    Declare,
    /// `=`.
    Assign,
    /// `,`.
    Comma,
    /// White space between tokens inside an action (significant for field chains).
    Space,
}

/// A token with its byte offset in the text.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    pub pos: usize,
}

/// Splits a template text into tokens.
pub(crate) fn lex(name: &str, text: &str) -> Result<Vec<Token>, TemplateError> {
    let mut lx = Lexer {
        name,
        text,
        pos: 0,
        out: Vec::new(),
        paren: 0,
    };
    lx.run()?;
    Ok(lx.out)
}

struct Lexer<'a> {
    name: &'a str,
    text: &'a str,
    pos: usize,
    out: Vec<Token>,
    paren: usize,
}

/// Line (1-based) of a byte offset.
pub(crate) fn line_of(text: &str, pos: usize) -> usize {
    1 + text.as_bytes()[..pos.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

impl Lexer<'_> {
    fn err(&self, pos: usize, reason: impl Into<String>) -> TemplateError {
        TemplateError::Parse {
            name: self.name.to_owned(),
            line: line_of(self.text, pos),
            reason: reason.into(),
        }
    }

    fn push(&mut self, tok: Tok, pos: usize) {
        self.out.push(Token { tok, pos });
    }

    fn run(&mut self) -> Result<(), TemplateError> {
        let bytes = self.text.as_bytes();
        let mut trim_next = false;
        loop {
            let rest = &self.text[self.pos..];
            let Some(open) = rest.find("{{") else {
                let mut t = rest;
                if trim_next {
                    t = t.trim_start_matches(|c: char| c.is_ascii() && is_space(c as u8));
                }
                if !t.is_empty() {
                    self.push(Tok::Text(std::sync::Arc::from(t)), self.pos);
                }
                return Ok(());
            };
            let start = self.pos + open;
            // A left trim marker is "{{- " (a space, tab, CR or LF after the dash).
            let left_trim = bytes.get(start + 2) == Some(&b'-')
                && bytes.get(start + 3).is_some_and(|c| is_space(*c));
            let mut t = &self.text[self.pos..start];
            if trim_next {
                t = t.trim_start_matches(|c: char| c.is_ascii() && is_space(c as u8));
            }
            if left_trim {
                t = t.trim_end_matches(|c: char| c.is_ascii() && is_space(c as u8));
            }
            if !t.is_empty() {
                self.push(Tok::Text(std::sync::Arc::from(t)), self.pos);
            }
            self.pos = start + if left_trim { 3 } else { 2 };
            // A comment: "{{/*" or "{{- /*", up to "*/}}" or "*/ -}}".
            let after = self.skip_space_peek();
            if self.text[after..].starts_with("/*") {
                let Some(end) = self.text[after + 2..].find("*/") else {
                    return Err(self.err(start, "unclosed comment"));
                };
                let mut p = after + 2 + end + 2;
                let mut right_trim = false;
                if self.text[p..].starts_with(" -}}")
                    || self.text[p..].starts_with("\t-}}")
                    || self.text[p..].starts_with("\n-}}")
                    || self.text[p..].starts_with("\r-}}")
                {
                    right_trim = true;
                    p += 4;
                } else if self.text[p..].starts_with("}}") {
                    p += 2;
                } else {
                    return Err(self.err(start, "comment ends before closing delimiter"));
                }
                self.pos = p;
                trim_next = right_trim;
                continue;
            }
            self.push(Tok::Open, start);
            trim_next = self.lex_action()?;
        }
    }

    fn skip_space_peek(&self) -> usize {
        let b = self.text.as_bytes();
        let mut p = self.pos;
        while p < b.len() && is_space(b[p]) {
            p += 1;
        }
        p
    }

    /// Lexes inside an action up to and including `}}`; returns whether it ended in `-}}`.
    fn lex_action(&mut self) -> Result<bool, TemplateError> {
        let b = self.text.as_bytes();
        self.paren = 0;
        loop {
            let p = self.pos;
            if p >= b.len() {
                return Err(self.err(p, "unclosed action"));
            }
            let c = b[p];
            if is_space(c) {
                let mut q = p;
                while q < b.len() && is_space(b[q]) {
                    q += 1;
                }
                if self.text[q..].starts_with("-}}") {
                    self.pos = q + 3;
                    self.push(Tok::Close, q);
                    return Ok(true);
                }
                self.pos = q;
                self.push(Tok::Space, p);
                continue;
            }
            if self.text[p..].starts_with("}}") {
                if self.paren > 0 {
                    return Err(self.err(p, "unclosed left paren"));
                }
                self.pos = p + 2;
                self.push(Tok::Close, p);
                return Ok(false);
            }
            self.token(p, c)?;
        }
    }

    /// Lexes one token (not space, not `}}`) starting with byte `c` at `p`.
    fn token(&mut self, p: usize, c: u8) -> Result<(), TemplateError> {
        let b = self.text.as_bytes();
        match c {
            b'(' => {
                self.paren += 1;
                self.one(Tok::LParen)
            }
            b')' => {
                if self.paren == 0 {
                    return Err(self.err(p, "unexpected right paren"));
                }
                self.paren -= 1;
                self.one(Tok::RParen)
            }
            b'|' => self.one(Tok::Pipe),
            b',' => self.one(Tok::Comma),
            b'=' => self.one(Tok::Assign),
            b':' => {
                if b.get(p + 1) != Some(&b'=') {
                    return Err(self.err(p, "expected :="));
                }
                self.pos = p + 2;
                self.push(Tok::Declare, p);
            }
            b'"' => self.quoted(p)?,
            b'`' => {
                let Some(end) = self.text[p + 1..].find('`') else {
                    return Err(self.err(p, "unterminated raw quoted string"));
                };
                let s = self.text[p + 1..p + 1 + end].replace('\r', "");
                self.pos = p + end + 2;
                self.push(Tok::Str(s), p);
            }
            b'\'' => self.char_const(p)?,
            b'$' => {
                let end = self.word_end(p + 1);
                let name = self.text[p..end].to_owned();
                self.pos = end;
                self.push(Tok::Var(name), p);
            }
            b'.' => {
                if b.get(p + 1).is_some_and(u8::is_ascii_digit) {
                    self.number(p)?;
                } else {
                    let end = self.word_end(p + 1);
                    self.pos = end;
                    if end == p + 1 {
                        self.push(Tok::Dot, p);
                    } else {
                        let name = self.text[p + 1..end].to_owned();
                        self.push(Tok::Field(name), p);
                    }
                }
            }
            b'0'..=b'9' | b'+' | b'-' => self.number(p)?,
            _ if c == b'_' || c.is_ascii_alphabetic() || c >= 0x80 => {
                let end = self.word_end(p);
                let word = &self.text[p..end];
                let tok = match word {
                    "true" => Tok::Bool(true),
                    "false" => Tok::Bool(false),
                    "nil" => Tok::Nil,
                    _ => Tok::Ident(word.to_owned()),
                };
                self.pos = end;
                self.push(tok, p);
            }
            _ => {
                let ch = self.text[p..].chars().next().unwrap_or('?');
                return Err(self.err(p, format!("unexpected {ch:?} in command")));
            }
        }
        Ok(())
    }

    fn one(&mut self, tok: Tok) {
        let p = self.pos;
        self.pos += 1;
        self.push(tok, p);
    }

    fn word_end(&self, mut p: usize) -> usize {
        while let Some(c) = self.text[p..].chars().next() {
            if c == '_' || c.is_alphanumeric() {
                p += c.len_utf8();
            } else {
                break;
            }
        }
        p
    }

    fn number(&mut self, p: usize) -> Result<(), TemplateError> {
        let b = self.text.as_bytes();
        let mut q = p;
        if matches!(b[q], b'+' | b'-') {
            q += 1;
        }
        while q < b.len()
            && (b[q].is_ascii_alphanumeric()
                || b[q] == b'.'
                || b[q] == b'_'
                || ((b[q] == b'+' || b[q] == b'-')
                    && matches!(b[q - 1], b'e' | b'E' | b'p' | b'P')))
        {
            q += 1;
        }
        if q == p + 1 && matches!(b[p], b'+' | b'-') {
            return Err(self.err(p, format!("bad number syntax: {:?}", &self.text[p..q])));
        }
        self.pos = q;
        self.push(Tok::Number(self.text[p..q].to_owned()), p);
        Ok(())
    }

    fn quoted(&mut self, p: usize) -> Result<(), TemplateError> {
        let b = self.text.as_bytes();
        let mut q = p + 1;
        loop {
            match b.get(q) {
                None | Some(b'\n') => return Err(self.err(p, "unterminated quoted string")),
                Some(b'\\') => q += 2,
                Some(b'"') => break,
                Some(_) => q += 1,
            }
        }
        let raw = &self.text[p..=q];
        let s = unquote(raw).ok_or_else(|| self.err(p, format!("invalid syntax: {raw}")))?;
        self.pos = q + 1;
        self.push(Tok::Str(s), p);
        Ok(())
    }

    fn char_const(&mut self, p: usize) -> Result<(), TemplateError> {
        let b = self.text.as_bytes();
        let mut q = p + 1;
        loop {
            match b.get(q) {
                None | Some(b'\n') => return Err(self.err(p, "unterminated character constant")),
                Some(b'\\') => q += 2,
                Some(b'\'') => break,
                Some(_) => q += 1,
            }
        }
        let inner = &self.text[p + 1..q];
        let s = unquote(&format!("\"{}\"", inner.replace("\\'", "'")))
            .ok_or_else(|| self.err(p, "malformed character constant"))?;
        let mut chars = s.chars();
        let (Some(c), None) = (chars.next(), chars.next()) else {
            return Err(self.err(p, format!("malformed character constant: '{inner}'")));
        };
        self.pos = q + 1;
        self.push(Tok::Char(c as i64), p);
        Ok(())
    }
}

/// Go's `strconv.Unquote` for a double-quoted string.
pub(crate) fn unquote(raw: &str) -> Option<String> {
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let e = chars.next()?;
        match e {
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\x0b'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            '\'' => out.push('\''),
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = (0..n).filter_map(|_| chars.next()).collect();
                let v = u32::from_str_radix(&hex, 16).ok()?;
                if e == 'x' {
                    // A byte; only ASCII bytes keep the string valid UTF-8 here.
                    out.push(char::from_u32(v)?);
                } else {
                    out.push(char::from_u32(v)?);
                }
            }
            '0'..='7' => {
                let mut v = e.to_digit(8)?;
                for _ in 0..2 {
                    v = v * 8 + chars.next()?.to_digit(8)?;
                }
                out.push(char::from_u32(v)?);
            }
            _ => return None,
        }
    }
    Some(out)
}

/// A Go number literal: an int when it is integral and fits (`1`, `0x1F`, `1_000`, `'a'`),
/// else a float (`1.5`, `1e3`).
pub(crate) fn parse_number(text: &str) -> Option<Value> {
    let clean = text.replace('_', "");
    let (neg, body) = match clean.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean)),
    };
    let lower = body.to_ascii_lowercase();
    let int = if let Some(h) = lower.strip_prefix("0x") {
        if h.contains('p') {
            None
        } else {
            i64::from_str_radix(h, 16).ok()
        }
    } else if let Some(o) = lower.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()
    } else if let Some(b) = lower.strip_prefix("0b") {
        i64::from_str_radix(b, 2).ok()
    } else if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|c| c.is_ascii_digit())
    {
        i64::from_str_radix(&lower[1..], 8).ok()
    } else if lower.bytes().all(|c| c.is_ascii_digit()) && !lower.is_empty() {
        lower.parse::<i64>().ok()
    } else {
        None
    };
    if let Some(i) = int {
        return Some(Value::Int(if neg { -i } else { i }));
    }
    if let Some(h) = lower.strip_prefix("0x") {
        let f = parse_hex_float(h)?;
        return Some(Value::Float(if neg { -f } else { f }));
    }
    let f: f64 = lower.parse().ok()?;
    if !lower.contains(['.', 'e']) && f.fract() == 0.0 {
        // An integer too large for int64 stays a float, as Go's constant would fail; accept.
        return Some(Value::Float(if neg { -f } else { f }));
    }
    Some(Value::Float(if neg { -f } else { f }))
}

/// A Go hexadecimal floating-point literal after its `0x` (`1p60`, `1.8p-2`, `.8p1`): hex
/// mantissa digits with an optional point, then a mandatory binary exponent.
fn parse_hex_float(h: &str) -> Option<f64> {
    let (mantissa, exp) = h.split_once('p')?;
    let exp: i32 = exp.parse().ok()?;
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let mut m = 0f64;
    for c in int_part.chars().chain(frac_part.chars()) {
        m = m * 16.0 + f64::from(c.to_digit(16)?);
    }
    let frac_bits = i32::try_from(frac_part.len()).ok()?.checked_mul(4)?;
    Some(m * 2f64.powi(exp.checked_sub(frac_bits)?))
}
