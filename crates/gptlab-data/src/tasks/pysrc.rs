//! A small hand-written Python scanner for mining doctests: tokens (names, numbers, strings,
//! operators; comments dropped) and *logical lines* (Python's statements: a physical line plus
//! any lines joined by open brackets, a backslash, or a triple-quoted string), each with the
//! indentation of its first line. That is all the miner needs to find top-level `def`s, their
//! bodies (the logical lines indented deeper than the `def`), their docstrings, and the names
//! a function uses, without a Python interpreter at build or run time.
//!
//! The rules followed are the language reference's: a tab advances the indentation to the
//! next multiple of 8; lines that are blank or hold only a comment have no indentation and
//! end no block; inside brackets or strings newlines do not end the statement; a backslash
//! (in code or in any string, raw ones included) escapes the next character for the purpose
//! of finding where a string ends. Not handled: Python 3.12's f-strings that reuse their
//! own quote character inside `{}`.

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Name,
    Number,
    /// A string literal, prefix and quotes included.
    Str,
    Op,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: Kind,
    /// Byte range in the source.
    pub start: usize,
    pub end: usize,
    /// 0-based physical lines of the first and last character.
    pub line: usize,
    pub end_line: usize,
}

/// One statement: its tokens (a range of [`Scan::tokens`]), lines and indentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logical {
    pub first: usize,
    pub last: usize,
    pub line: usize,
    pub end_line: usize,
    pub indent: usize,
}

/// A scanned source.
#[derive(Debug, Clone)]
pub struct Scan<'a> {
    pub src: &'a str,
    pub tokens: Vec<Token>,
    pub logical: Vec<Logical>,
}

impl<'a> Scan<'a> {
    pub fn text(&self, t: &Token) -> &'a str {
        &self.src[t.start..t.end]
    }
    pub fn toks(&self, l: &Logical) -> &[Token] {
        &self.tokens[l.first..l.last]
    }
}

const OPS3: [&str; 5] = ["**=", "//=", ">>=", "<<=", "..."];
const OPS2: [&str; 20] = ["->", ":=", "==", "!=", "<=", ">=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "@=", "**", "//", "<<", ">>", "<>"];

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// A string prefix (`r`, `b`, `f`, `u` and their pairs, any case).
pub fn is_string_prefix(p: &str) -> bool {
    matches!(p.to_ascii_lowercase().as_str(), "r" | "u" | "b" | "f" | "br" | "rb" | "fr" | "rf")
}

/// Scans `src`; an error says what could not be scanned and where (1-based line).
pub fn scan(src: &str) -> Result<Scan<'_>, String> {
    let b = src.as_bytes();
    let (mut i, mut line, mut depth) = (0usize, 0usize, 0usize);
    let mut tokens: Vec<Token> = vec![];
    let mut logical: Vec<Logical> = vec![];
    // the statement being read: (first token, line, indent)
    let mut cur: Option<(usize, usize, usize)> = None;
    let mut at_line_start = true;
    let close = |cur: &mut Option<(usize, usize, usize)>, logical: &mut Vec<Logical>, tokens: &Vec<Token>| {
        if let Some((first, l, indent)) = cur.take() {
            if tokens.len() > first {
                let end_line = tokens.last().map_or(l, |t| t.end_line);
                logical.push(Logical { first, last: tokens.len(), line: l, end_line, indent });
            }
        }
    };
    while i < b.len() {
        if at_line_start {
            at_line_start = false;
            if cur.is_none() {
                // a new statement may start here: measure the indentation
                let mut col = 0;
                let mut j = i;
                while j < b.len() {
                    match b[j] {
                        b' ' => col += 1,
                        b'\t' => col = (col / 8 + 1) * 8,
                        b'\x0c' => col = 0,
                        b'\r' => {}
                        _ => break,
                    }
                    j += 1;
                }
                i = j;
                if i < b.len() && b[i] != b'\n' && b[i] != b'#' && !(b[i] == b'\\' && b.get(i + 1) == Some(&b'\n')) {
                    cur = Some((tokens.len(), line, col));
                }
                continue;
            }
        }
        let c = b[i];
        if cur.is_none() && !matches!(c, b' ' | b'\t' | b'\x0c' | b'\r' | b'\n' | b'#' | b'\\') {
            // code on a line that a backslash joined to a blank one: a statement of its own
            cur = Some((tokens.len(), line, 0));
        }
        match c {
            b' ' | b'\t' | b'\x0c' | b'\r' => i += 1,
            b'\n' => {
                i += 1;
                line += 1;
                at_line_start = true;
                if depth == 0 {
                    close(&mut cur, &mut logical, &tokens);
                }
            }
            b'\\' => {
                // an explicit line join
                let mut j = i + 1;
                if b.get(j) == Some(&b'\r') {
                    j += 1;
                }
                if b.get(j) != Some(&b'\n') {
                    return Err(format!("line {}: stray backslash", line + 1));
                }
                i = j + 1;
                line += 1;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'\'' | b'"' => {
                let (end, nl) = string_end(b, i, line)?;
                tokens.push(Token { kind: Kind::Str, start: i, end, line, end_line: line + nl });
                line += nl;
                i = end;
            }
            c if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) => {
                let s = i;
                while i < b.len() {
                    let d = b[i];
                    let exp_sign = (d == b'+' || d == b'-') && i > s && matches!(b[i - 1], b'e' | b'E') && !src[s..i].starts_with("0x") && !src[s..i].starts_with("0X");
                    if is_ident(d) || d == b'.' || exp_sign {
                        i += 1;
                    } else {
                        break;
                    }
                }
                tokens.push(Token { kind: Kind::Number, start: s, end: i, line, end_line: line });
            }
            c if is_ident(c) => {
                let s = i;
                while i < b.len() && is_ident(b[i]) {
                    i += 1;
                }
                if i < b.len() && (b[i] == b'\'' || b[i] == b'"') && is_string_prefix(&src[s..i]) {
                    let (end, nl) = string_end(b, i, line)?;
                    tokens.push(Token { kind: Kind::Str, start: s, end, line, end_line: line + nl });
                    line += nl;
                    i = end;
                } else {
                    tokens.push(Token { kind: Kind::Name, start: s, end: i, line, end_line: line });
                }
            }
            _ => {
                let rest = &src[i..];
                let len = if OPS3.iter().any(|o| rest.starts_with(o)) {
                    3
                } else if OPS2.iter().any(|o| rest.starts_with(o)) {
                    2
                } else {
                    rest.chars().next().map_or(1, char::len_utf8)
                };
                match c {
                    b'(' | b'[' | b'{' => depth += 1,
                    b')' | b']' | b'}' => depth = depth.saturating_sub(1),
                    _ => {}
                }
                tokens.push(Token { kind: Kind::Op, start: i, end: i + len, line, end_line: line });
                i += len;
            }
        }
    }
    close(&mut cur, &mut logical, &tokens);
    Ok(Scan { src, tokens, logical })
}

/// The end (exclusive) of the string literal whose opening quote is at `q`, and how many
/// newlines it holds.
fn string_end(b: &[u8], q: usize, line: usize) -> Result<(usize, usize), String> {
    let quote = b[q];
    let triple = b.get(q + 1) == Some(&quote) && b.get(q + 2) == Some(&quote);
    let mut i = if triple { q + 3 } else { q + 1 };
    let mut nl = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                if b.get(i + 1) == Some(&b'\n') {
                    nl += 1;
                }
                i += 2;
                continue;
            }
            b'\n' => {
                if !triple {
                    return Err(format!("line {}: unterminated string", line + 1));
                }
                nl += 1;
            }
            c if c == quote => {
                if !triple {
                    return Ok((i + 1, nl));
                }
                if b.get(i + 1) == Some(&quote) && b.get(i + 2) == Some(&quote) {
                    return Ok((i + 3, nl));
                }
            }
            _ => {}
        }
        i += 1;
    }
    Err(format!("line {}: unterminated string", line + 1))
}

/// A string token's prefix, its body (between the quotes) and whether it is triple-quoted.
pub fn string_parts(tok: &str) -> (&str, &str) {
    let q = tok.find(['\'', '"']).unwrap_or(0);
    let prefix = &tok[..q];
    let rest = &tok[q..];
    let n = if rest.len() >= 6 && (rest.starts_with("\"\"\"") || rest.starts_with("'''")) { 3 } else { 1 };
    let body = if rest.len() >= 2 * n { &rest[n..rest.len() - n] } else { "" };
    (prefix, body)
}

/// The value of a (non-raw) string body, escapes decoded as Python decodes them; unknown
/// escapes stay as written, as in Python. `None` for `\N{...}` (named characters) or a bad
/// `\x`/`\u`/`\U` escape.
pub fn unescape(body: &str) -> Option<String> {
    let mut out = String::with_capacity(body.len());
    let mut it = body.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = it.next() else {
            out.push('\\');
            break;
        };
        match e {
            '\n' => {}
            '\\' => out.push('\\'),
            '\'' => out.push('\''),
            '"' => out.push('"'),
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'v' => out.push('\x0b'),
            '0'..='7' => {
                let mut v = e.to_digit(8)?;
                for _ in 0..2 {
                    match it.peek().and_then(|d| d.to_digit(8)) {
                        Some(d) => {
                            v = v * 8 + d;
                            it.next();
                        }
                        None => break,
                    }
                }
                out.push(char::from_u32(v)?);
            }
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = (0..n).filter_map(|_| it.next()).collect();
                if hex.len() != n {
                    return None;
                }
                out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
            }
            'N' => return None,
            other => {
                out.push('\\');
                out.push(other);
            }
        }
    }
    Some(out)
}

/// Python's keywords (hard and soft) and the three constants: never a reference to a name.
pub const KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if",
    "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while", "with", "yield", "match", "case", "type", "_",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logical_lines_follow_brackets_strings_and_joins() {
        let src = "import os\n\ndef f(a,\n      b):\n    \"\"\"Doc\nat column 0\n    \"\"\"\n    x = [1,\n2]  # c\n    # only a comment\n\tif x: \\\n  pass\n    return 'a\\'b'\n";
        let s = scan(src).expect("scan");
        let heads: Vec<(usize, usize, &str)> = s.logical.iter().map(|l| (l.line, l.indent, s.text(&s.tokens[l.first]))).collect();
        assert_eq!(heads, vec![(0, 0, "import"), (2, 0, "def"), (4, 4, "\"\"\"Doc\nat column 0\n    \"\"\""), (7, 4, "x"), (10, 8, "if"), (12, 4, "return")]);
        assert_eq!(s.logical[1].end_line, 3);
        assert_eq!(s.logical[2].end_line, 6);
        let ret = s.toks(&s.logical[5]);
        assert_eq!(s.text(&ret[1]), "'a\\'b'");
        assert!(scan("x = 'open\n").is_err());
        assert!(scan("s = '''never closed\n").is_err());
        // numbers with exponents, prefixed strings, multi-character operators
        let s = scan("y = 1e-5 + rb'\\x00' ** 2 -> z\n").expect("scan");
        let t: Vec<&str> = s.tokens.iter().map(|t| s.text(t)).collect();
        assert_eq!(t, vec!["y", "=", "1e-5", "+", "rb'\\x00'", "**", "2", "->", "z"]);
    }

    #[test]
    fn escapes_decode_like_python() {
        assert_eq!(unescape(r"a\nb\\c\'\x41\u00e9\101\q").as_deref(), Some("a\nb\\c'Aé\u{41}\\q"));
        assert_eq!(unescape(r"\N{BULLET}"), None);
        assert_eq!(string_parts("r'''x'y'''"), ("r", "x'y"));
        assert_eq!(string_parts("\"\""), ("", ""));
    }
}
