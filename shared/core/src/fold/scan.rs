//! A JSON scanner over one event's text: finds where values end and checks that they
//! are JSON (RFC 8259), without building them. Strings are searched eight bytes at a
//! time for their closing quote; containers are skipped iteratively with a bit stack, so
//! nothing is allocated and deep nesting cannot overflow the call stack.

/// The text is not JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Invalid;

type Scanned<T = ()> = Result<T, Invalid>;

/// Containers a skipped value may nest, as many as a parse into `serde_json::Value`
/// accepts (its recursion limit).
const MAX_DEPTH: u32 = 127;

pub(super) struct Scanner<'de> {
    pub text: &'de str,
    bytes: &'de [u8],
    pub pos: usize,
}

/// Where `bytes` first holds a quote, a backslash or a control character at or after
/// `from`: eight bytes at a time, read from the whole text (not just the string), so a
/// short string is usually found in one word; `memchr`'s setup would cost more than the
/// search.
#[inline(always)]
fn special(bytes: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = ONES << 7;
    // A byte below `n` (n <= 128) sets its high bit in `below(x, n)`; bits may also be
    // set above a byte that matches, never below one, so the lowest bit is exact.
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGH;
    let mut at = from;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let found = below(word ^ (ONES * u64::from(b'"')), 1)
            | below(word ^ (ONES * u64::from(b'\\')), 1)
            | below(word, 0x20);
        if found != 0 {
            return Some(at + found.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    let rest = bytes.get(at..)?;
    let found = rest
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
    Some(at + found)
}

impl<'de> Scanner<'de> {
    pub fn new(text: &'de str) -> Self {
        Self {
            text,
            bytes: text.as_bytes(),
            pos: 0,
        }
    }

    /// Skips whitespace and returns the next byte, not consumed.
    #[inline(always)]
    pub fn peek(&mut self) -> Option<u8> {
        while let Some(&b) = self.bytes.get(self.pos) {
            if !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                return Some(b);
            }
            self.pos += 1;
        }
        None
    }

    /// Skips whitespace and consumes `byte`.
    #[inline(always)]
    pub fn expect(&mut self, byte: u8) -> Scanned {
        if self.peek() != Some(byte) {
            return Err(Invalid);
        }
        self.pos += 1;
        Ok(())
    }

    /// Skips whitespace and consumes `byte` if it comes next.
    #[inline(always)]
    pub fn eat(&mut self, byte: u8) -> bool {
        let next = self.peek() == Some(byte);
        self.pos += usize::from(next);
        next
    }

    /// After an opening quote: consumes the string and its closing quote. Returns its
    /// contents as written, and whether they hold escapes.
    #[inline(always)]
    pub fn string(&mut self) -> Scanned<(&'de str, bool)> {
        let start = self.pos;
        let mut escaped = false;
        loop {
            let at = special(self.bytes, self.pos).ok_or(Invalid)?;
            self.pos = at + 1;
            match self.bytes[at] {
                b'"' => return Ok((&self.text[start..at], escaped)),
                b'\\' => {
                    escaped = true;
                    self.escape()?;
                }
                // A control character, which JSON strings may not hold raw.
                _ => return Err(Invalid),
            }
        }
    }

    /// After a backslash: one escape (its code points are checked where it is decoded).
    fn escape(&mut self) -> Scanned {
        match self.bytes.get(self.pos).ok_or(Invalid)? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.pos += 1,
            b'u' => {
                let hex = self.bytes.get(self.pos + 1..self.pos + 5).ok_or(Invalid)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return Err(Invalid);
                }
                self.pos += 5;
            }
            _ => return Err(Invalid),
        }
        Ok(())
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// At a number's first byte: consumes it and returns its text.
    pub fn number(&mut self) -> Scanned<&'de str> {
        let start = self.pos;
        self.pos += usize::from(self.bytes[start] == b'-');
        match self.bytes.get(self.pos) {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(Invalid),
        }
        if self.bytes.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(Invalid);
            }
        }
        if matches!(self.bytes.get(self.pos), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.bytes.get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(Invalid);
            }
        }
        Ok(&self.text[start..self.pos])
    }

    /// At `true`, `false` or `null`: consumes it.
    pub fn literal(&mut self, word: &[u8]) -> Scanned {
        if !self.bytes[self.pos..].starts_with(word) {
            return Err(Invalid);
        }
        self.pos += word.len();
        Ok(())
    }

    /// Consumes one scalar (the next byte is not `{` or `[`).
    fn scalar(&mut self) -> Scanned {
        match self.peek().ok_or(Invalid)? {
            b'"' => {
                self.pos += 1;
                self.string().map(drop)
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number().map(drop),
            _ => Err(Invalid),
        }
    }

    /// After `{` or `,` in an object: a key and its colon.
    fn key_colon(&mut self) -> Scanned {
        self.expect(b'"')?;
        self.string()?;
        self.expect(b':')
    }

    /// Consumes one value of any kind, checking it is JSON, and returns its text.
    pub fn skip(&mut self) -> Scanned<&'de str> {
        let next = self.peek();
        let start = self.pos;
        if next == Some(b'"') {
            self.pos += 1;
            self.string()?;
            return Ok(&self.text[start..self.pos]);
        }
        // One bit per open container, the innermost lowest: set for an object.
        let (mut objects, mut depth) = (0u128, 0u32);
        loop {
            match self.peek().ok_or(Invalid)? {
                open @ (b'{' | b'[') => {
                    if depth == MAX_DEPTH {
                        return Err(Invalid);
                    }
                    self.pos += 1;
                    let object = open == b'{';
                    if !self.eat(if object { b'}' } else { b']' }) {
                        (objects, depth) = ((objects << 1) | u128::from(object), depth + 1);
                        if object {
                            self.key_colon()?;
                        }
                        continue;
                    }
                }
                _ => self.scalar()?,
            }
            // After a value: close containers until one goes on.
            loop {
                if depth == 0 {
                    return Ok(&self.text[start..self.pos]);
                }
                let object = objects & 1 == 1;
                match self.peek().ok_or(Invalid)? {
                    b',' => {
                        self.pos += 1;
                        if object {
                            self.key_colon()?;
                        }
                        break;
                    }
                    b'}' if object => {}
                    b']' if !object => {}
                    _ => return Err(Invalid),
                }
                self.pos += 1;
                (objects, depth) = (objects >> 1, depth - 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skips(text: &str) -> bool {
        let mut scan = Scanner::new(text);
        scan.skip().is_ok() && scan.peek().is_none()
    }

    #[test]
    fn skipping_accepts_exactly_what_serde_json_accepts() {
        let cases = [
            "{}",
            "[]",
            " { \"a\" : [1, -2.5e+3, true, false, null, \"x\\\"\\u00e9\"], \"b\": {} } ",
            "[[[]],[{}]]",
            "0",
            "-0.0E-1",
            "\"\\/\"",
            "{\"a\":1,}",
            "[1,]",
            "[1 2]",
            "{\"a\" 1}",
            "{1:2}",
            "01",
            "1.",
            ".5",
            "-",
            "1e",
            "tru",
            "nul",
            "\"\\x\"",
            "\"\\u12g4\"",
            "\"a\tb\"",
            "\"open",
            "[1}",
            "{\"a\":1]",
            "[",
            "",
            "[1] [2]",
        ];
        for text in cases {
            let serde = serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok();
            assert_eq!(skips(text), serde, "{text:?}");
        }
        let deep = |n| "[".repeat(n) + &"]".repeat(n);
        assert!(skips(&deep(MAX_DEPTH as usize)));
        assert!(!skips(&deep(MAX_DEPTH as usize + 1)));
        assert!(!skips(&deep(100_000)), "rejected, not a stack overflow");
    }

    #[test]
    fn special_bytes_are_found_first_wherever_they_are() {
        for len in 0..20 {
            for from in 0..=len {
                for at in from..len {
                    for special_byte in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
                        let mut bytes = vec![b'a'; len];
                        bytes[at] = special_byte;
                        bytes.iter_mut().skip(at + 1).for_each(|b| *b = b'"');
                        // Special bytes before `from` are not looked at.
                        bytes.iter_mut().take(from).for_each(|b| *b = b'"');
                        assert_eq!(special(&bytes, from), Some(at), "{bytes:?} from {from}");
                    }
                }
                let plain: Vec<u8> = (0..len)
                    .map(|i| [b' ', b'~', 0x7f, 0x80, 0xff][i % 5])
                    .collect();
                assert_eq!(special(&plain, from), None, "{plain:?}");
            }
        }
    }
}
