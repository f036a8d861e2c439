//! JSON text, read without building a `serde_json::Value`: the request's object is kept
//! as text ([`JsonObject`](crate::k8s::request::JsonObject)), the pod template found in
//! it by scanning, and only the template's `spec` and `metadata` are read into a [`Node`]
//! tree, whose strings borrow from the text, for typed decoding
//! ([`decode`](crate::k8s::decode)).
//!
//! A `Value` costs a map with hashed keys and a `String` per key and string, for every
//! object of the request, managed fields and status included; a `Node` costs a vector
//! per list or map of the template. The typed decoder reads trees, not text: compiled
//! once per Kubernetes type, a decoder over text came out 120 KB larger, past the
//! 1 MiB a module may weigh.

use serde_json::Value;
use std::borrow::Cow;

/// A JSON value read from text (or borrowed from a `Value`): strings borrow from where
/// they were read unless they had escapes; a map keeps its entries in order, each key
/// as often as it was written (the typed decoders keep the last, as a `Value` would).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node<'a> {
    Null,
    Bool(bool),
    Number(JsonNumber),
    Str(Cow<'a, str>),
    Seq(Vec<Node<'a>>),
    Map(Vec<(Cow<'a, str>, Node<'a>)>),
}

impl<'a> Node<'a> {
    /// Reads JSON text into a tree.
    pub(crate) fn parse(text: &'a str) -> Result<Self, SyntaxError> {
        let mut cursor = Cursor::new(text);
        let node = cursor.node()?;
        match cursor.peek() {
            None => Ok(node),
            Some(_) => Err(syntax("trailing characters after the value")),
        }
    }

    /// The tree of a `Value`, borrowing its strings.
    pub(crate) fn of(value: &'a Value) -> Self {
        match value {
            Value::Null => Node::Null,
            Value::Bool(b) => Node::Bool(*b),
            Value::Number(n) => Node::Number(match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => JsonNumber::Unsigned(u),
                (None, Some(i)) => JsonNumber::Signed(i),
                // Without serde_json's arbitrary_precision, every other number is an f64.
                _ => JsonNumber::Float(n.as_f64().unwrap_or(f64::NAN)),
            }),
            Value::String(s) => Node::Str(Cow::Borrowed(s)),
            Value::Array(items) => Node::Seq(items.iter().map(Node::of).collect()),
            Value::Object(map) => Node::Map(
                map.iter()
                    .map(|(k, v)| (Cow::Borrowed(k.as_str()), Node::of(v)))
                    .collect(),
            ),
        }
    }
}

/// Reads JSON bytes into a `Value` (for JSON of no known shape: host answers, settings).
pub fn parse_value(bytes: &[u8]) -> Result<Value, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8 text ({e})"))?;
    value_of(text).map_err(|e| e.to_string())
}

/// Reads JSON text into a `Value`, keys in the order written (a key written twice keeps
/// its first place and its last value, as serde_json's ordered maps do).
pub fn value_of(text: &str) -> Result<Value, SyntaxError> {
    let mut cursor = Cursor::new(text);
    let value = cursor.value()?;
    match cursor.peek() {
        None => Ok(value),
        Some(_) => Err(syntax("trailing characters after the value")),
    }
}

/// What a look-up of fields found.
#[derive(Debug, PartialEq)]
pub(crate) enum Fields<T> {
    /// Each wanted field (the last written), `None` for one not there.
    Found(Vec<Option<T>>),
    /// The way stopped at the `n`th field of the path (0 for the first): it is missing or
    /// `null`, or what should hold it is not a map. `n` is the path's length when the
    /// value at its end is not a map.
    Missing(usize),
}

/// The `wanted` fields of the map found by following `path` (field names) from the value
/// of `text`, as trees. One pass over the text: the way is followed where it is written,
/// and everything else skipped unread.
pub(crate) fn nodes_at<'t>(
    text: &'t str,
    path: &[&str],
    wanted: &[&str],
) -> Result<Fields<Node<'t>>, SyntaxError> {
    look_up(text, path, wanted, &mut |_, cursor| cursor.node())
}

/// The texts of fields found (see [`Fields`]).
pub(crate) type Texts<'t> = Fields<&'t str>;

/// The texts of the `wanted` fields of the map `text` and, in the same pass, the texts of
/// the `nested_wanted` fields of the map in its field `nested` (`None` when it is not
/// there; [`Fields::Missing`] when it is no map).
pub(crate) fn fields_and_nested<'t>(
    text: &'t str,
    wanted: &[&str],
    nested: &str,
    nested_wanted: &[&str],
) -> Result<(Vec<Option<&'t str>>, Option<Texts<'t>>), SyntaxError> {
    let mut cursor = Cursor::new(text);
    let mut inner = None;
    let all: Vec<&str> = wanted.iter().copied().chain([nested]).collect();
    let found = cursor.follow(&[], 0, &all, &mut |key, cursor| {
        if key == nested {
            inner = Some(cursor.follow(&[], 0, nested_wanted, &mut |_, c| c.span())?);
            return Ok(None);
        }
        cursor.span().map(Some)
    })?;
    if cursor.peek().is_some() {
        return Err(syntax("trailing characters after the value"));
    }
    let Fields::Found(found) = found else {
        return Err(syntax("expected a map"));
    };
    let found = found
        .into_iter()
        .take(wanted.len())
        .map(Option::flatten)
        .collect();
    Ok((found, inner))
}

fn look_up<'t, T>(
    text: &'t str,
    path: &[&str],
    wanted: &[&str],
    read: &mut dyn FnMut(&str, &mut Cursor<'t>) -> Result<T, SyntaxError>,
) -> Result<Fields<T>, SyntaxError> {
    let mut cursor = Cursor::new(text);
    let found = cursor.follow(path, 0, wanted, read)?;
    match cursor.peek() {
        None => Ok(found),
        Some(_) => Err(syntax("trailing characters after the value")),
    }
}

/// A list or map found in JSON text, with where each of its items is written: what a
/// patch of the text needs to splice an item in or out.
#[derive(Debug)]
pub(crate) struct Container<'t> {
    /// Whether it is a map (else a list).
    pub(crate) is_map: bool,
    /// Where its opening bracket is.
    pub(crate) open: usize,
    pub(crate) items: Vec<Item<'t>>,
}

/// One item of a [`Container`].
#[derive(Debug)]
pub(crate) struct Item<'t> {
    /// A map entry's key (`None` in a list).
    pub(crate) key: Option<Cow<'t, str>>,
    /// Where the item starts: its key's opening quote in a map, its value in a list.
    pub(crate) start: usize,
    /// Where its value is.
    pub(crate) value: std::ops::Range<usize>,
}

/// The list or map at the end of `tokens` (unescaped JSON pointer tokens: field names,
/// and list indices as RFC 6901 writes them) in the value of `text`, found in one pass.
/// `None` when there is none, when the text is not JSON, or when a map on the way has
/// the next key written twice (which a `Value` keeps once: the text then is not the
/// tree it stands for, and only the tree can be patched as a `Value` is).
pub(crate) fn container_at<'t>(text: &'t str, tokens: &[Cow<'_, str>]) -> Option<Container<'t>> {
    let mut cursor = Cursor::new(text);
    let found = cursor.find(tokens).ok()?;
    match cursor.peek() {
        None => found,
        Some(_) => None,
    }
}

/// How deep values may nest: as deep as serde_json reads (it refuses a 128th level),
/// which every request PolicyServer or kwctl sends has passed.
const MAX_DEPTH: usize = 127;

/// A position in JSON text.
pub(crate) struct Cursor<'de> {
    text: &'de str,
    pos: usize,
    /// Lists and maps open around the position.
    depth: usize,
}

/// One JSON value's start: a scalar whole, a list or a map by its opening bracket.
enum Token<'de> {
    Null,
    Bool(bool),
    Number(JsonNumber),
    Str(Cow<'de, str>),
    Seq,
    Map,
}

/// A JSON number as serde_json reads it without `arbitrary_precision`: an integer that
/// fits 64 bits stays one, every other number is an f64.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum JsonNumber {
    Unsigned(u64),
    Signed(i64),
    Float(f64),
}

/// Why JSON text could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError(&'static str);

impl std::fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid JSON: {}", self.0)
    }
}

impl std::error::Error for SyntaxError {}

fn syntax(what: &'static str) -> SyntaxError {
    SyntaxError(what)
}

impl<'de> Cursor<'de> {
    /// The next byte after any whitespace.
    fn peek(&mut self) -> Option<u8> {
        let bytes = self.text.as_bytes();
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = bytes.get(self.pos) {
            self.pos += 1;
        }
        bytes.get(self.pos).copied()
    }

    fn expect(&mut self, byte: u8) -> Result<(), SyntaxError> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(syntax(match byte {
                b':' => "expected `:`",
                b',' => "expected `,`",
                b'"' => "expected a string",
                _ => "unexpected character",
            }))
        }
    }

    fn enter(&mut self) -> Result<(), SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(syntax(
                "recursion limit exceeded (values nested more than 127 deep)",
            ));
        }
        Ok(())
    }

    fn literal(&mut self, word: &str, token: Token<'de>) -> Result<Token<'de>, SyntaxError> {
        if self.text[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(token)
        } else {
            Err(syntax("expected a value"))
        }
    }

    /// Reads a scalar, or the opening bracket of a list or map.
    fn token(&mut self) -> Result<Token<'de>, SyntaxError> {
        match self.peek() {
            Some(b'"') => self.string().map(Token::Str),
            Some(b'{') => {
                self.pos += 1;
                Ok(Token::Map)
            }
            Some(b'[') => {
                self.pos += 1;
                Ok(Token::Seq)
            }
            Some(b'n') => self.literal("null", Token::Null),
            Some(b't') => self.literal("true", Token::Bool(true)),
            Some(b'f') => self.literal("false", Token::Bool(false)),
            Some(b'-' | b'0'..=b'9') => self.number().map(Token::Number),
            _ => Err(syntax("expected a value")),
        }
    }

    /// Reads a number as JSON writes one (`-? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?`)
    /// and serde_json reads it: no leading zero, no bare point, nothing beyond an f64.
    /// What a module reads, it may answer as written (a patched object), so it reads no
    /// more than the JSON its callers parse.
    fn number(&mut self) -> Result<JsonNumber, SyntaxError> {
        let start = self.pos;
        let bytes = self.text.as_bytes();
        let digits = |pos: &mut usize| {
            let from = *pos;
            while bytes.get(*pos).is_some_and(u8::is_ascii_digit) {
                *pos += 1;
            }
            *pos > from
        };
        let mut pos = start + usize::from(bytes.get(start) == Some(&b'-'));
        match bytes.get(pos) {
            Some(b'0') => pos += 1,
            Some(b'1'..=b'9') => {
                digits(&mut pos);
            }
            _ => return Err(syntax("invalid number")),
        }
        let mut integer = true;
        if bytes.get(pos) == Some(&b'.') {
            pos += 1;
            integer = false;
            if !digits(&mut pos) {
                return Err(syntax("invalid number"));
            }
        }
        if let Some(b'e' | b'E') = bytes.get(pos) {
            pos += 1;
            integer = false;
            if let Some(b'+' | b'-') = bytes.get(pos) {
                pos += 1;
            }
            if !digits(&mut pos) {
                return Err(syntax("invalid number"));
            }
        }
        if bytes.get(pos).is_some_and(u8::is_ascii_digit) {
            // A digit after a leading zero.
            return Err(syntax("invalid number"));
        }
        self.pos = pos;
        let text = &self.text[start..pos];
        if integer {
            let parsed = if text.starts_with('-') {
                // serde_json reads `-0` as the float -0.0.
                text.parse()
                    .ok()
                    .filter(|&i: &i64| i != 0)
                    .map(JsonNumber::Signed)
            } else {
                text.parse().map(JsonNumber::Unsigned).ok()
            };
            if let Some(number) = parsed {
                return Ok(number);
            }
        }
        match text.parse::<f64>() {
            Ok(float) if float.is_finite() => Ok(JsonNumber::Float(float)),
            _ => Err(syntax("number out of range")),
        }
    }

    /// Reads a string, at its opening quote: borrowed from the text unless it has escapes.
    fn string(&mut self) -> Result<Cow<'de, str>, SyntaxError> {
        self.expect(b'"')?;
        let bytes = self.text.as_bytes();
        let start = self.pos;
        let Some(at) = find_string_special(bytes, start) else {
            return Err(syntax("unterminated string"));
        };
        self.pos = at;
        match bytes[at] {
            b'"' => {
                self.pos += 1;
                Ok(Cow::Borrowed(&self.text[start..at]))
            }
            b'\\' => self.escaped_string(start).map(Cow::Owned),
            _ => Err(syntax("control character in a string")),
        }
    }

    /// Skips a string, at its opening quote. A string with escapes is read whole, so
    /// that what a skip accepts a later read of the same text accepts too (a mutation
    /// reads the whole object).
    fn skip_string(&mut self) -> Result<(), SyntaxError> {
        self.expect(b'"')?;
        let bytes = self.text.as_bytes();
        let start = self.pos;
        match find_string_special(bytes, start).map(|at| (at, bytes[at])) {
            Some((at, b'"')) => {
                self.pos = at + 1;
                Ok(())
            }
            Some((at, b'\\')) => {
                self.pos = at;
                self.escaped_string(start).map(drop)
            }
            Some(_) => Err(syntax("control character in a string")),
            None => Err(syntax("unterminated string")),
        }
    }

    fn escaped_string(&mut self, start: usize) -> Result<String, SyntaxError> {
        let mut out = String::from(&self.text[start..self.pos]);
        loop {
            let Some(at) = find_string_special(self.text.as_bytes(), self.pos) else {
                return Err(syntax("unterminated string"));
            };
            out.push_str(&self.text[self.pos..at]);
            self.pos = at + 1;
            match self.text.as_bytes()[at] {
                b'"' => return Ok(out),
                b'\\' => {}
                _ => return Err(syntax("control character in a string")),
            }
            let escape = self.text.as_bytes().get(self.pos).copied();
            self.pos += 1;
            let unescaped = match escape {
                Some(b'"') => '"',
                Some(b'\\') => '\\',
                Some(b'/') => '/',
                Some(b'b') => '\u{8}',
                Some(b'f') => '\u{c}',
                Some(b'n') => '\n',
                Some(b'r') => '\r',
                Some(b't') => '\t',
                Some(b'u') => self.unicode_escape()?,
                _ => return Err(syntax("invalid escape")),
            };
            out.push(unescaped);
        }
    }

    /// The character of a `\\uXXXX` escape (after the `u`), with its low surrogate.
    fn unicode_escape(&mut self) -> Result<char, SyntaxError> {
        let high = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&high) {
            if !self.text[self.pos..].starts_with("\\u") {
                return Err(syntax("lone surrogate in a string"));
            }
            self.pos += 2;
            let low = self.hex4()?;
            if !(0xDC00..0xE000).contains(&low) {
                return Err(syntax("lone surrogate in a string"));
            }
            0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
        } else {
            high
        };
        char::from_u32(code).ok_or_else(|| syntax("lone surrogate in a string"))
    }

    fn hex4(&mut self) -> Result<u32, SyntaxError> {
        let digits = self
            .text
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| syntax("invalid escape"))?;
        // Four hex digits (`from_str_radix` alone would take a sign).
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(syntax("invalid escape"));
        }
        let code = u32::from_str_radix(digits, 16).map_err(|_| syntax("invalid escape"))?;
        self.pos += 4;
        Ok(code)
    }

    /// Skips one value, reading no more of it than it must.
    fn skip_value(&mut self) -> Result<(), SyntaxError> {
        if self.peek() == Some(b'"') {
            return self.skip_string();
        }
        match self.token()? {
            Token::Seq => {
                self.enter()?;
                self.skip_rest(b']')
            }
            Token::Map => {
                self.enter()?;
                self.skip_rest(b'}')
            }
            _ => Ok(()),
        }
    }

    /// Skips what is left of a list (`close` is `]`) or map (`}`) up to and including
    /// its closing bracket. `started`: whether an item of it was read already.
    fn skip_items(&mut self, close: u8, mut started: bool) -> Result<(), SyntaxError> {
        loop {
            match self.peek() {
                Some(byte) if byte == close => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                None => return Err(syntax("unterminated list or map")),
                Some(_) => {}
            }
            if started {
                self.expect(b',')?;
            }
            started = true;
            if close == b'}' {
                self.string()?;
                self.expect(b':')?;
            }
            self.skip_value()?;
        }
    }

    fn skip_rest(&mut self, close: u8) -> Result<(), SyntaxError> {
        self.skip_items(close, false)
    }

    /// Moves to the next item of a list or map whose items are being read, past the
    /// comma; `false` (and past the closing bracket) when there is none.
    fn next_item(&mut self, close: u8, started: bool) -> Result<bool, SyntaxError> {
        match self.peek() {
            Some(byte) if byte == close => {
                self.pos += 1;
                self.depth -= 1;
                Ok(false)
            }
            None => Err(syntax("unterminated list or map")),
            Some(_) if started => {
                self.expect(b',')?;
                Ok(true)
            }
            Some(_) => Ok(true),
        }
    }
}

impl<'de> Cursor<'de> {
    fn new(text: &'de str) -> Self {
        Cursor {
            text,
            pos: 0,
            depth: 0,
        }
    }

    /// Reads the value at the position into a `Value`.
    fn value(&mut self) -> Result<Value, SyntaxError> {
        Ok(match self.token()? {
            Token::Null => Value::Null,
            Token::Bool(b) => Value::Bool(b),
            Token::Number(JsonNumber::Unsigned(u)) => Value::from(u),
            Token::Number(JsonNumber::Signed(i)) => Value::from(i),
            // Finite: the reader refuses a number beyond an f64, as serde_json does.
            Token::Number(JsonNumber::Float(f)) => Value::from(f),
            Token::Str(s) => Value::String(s.into_owned()),
            Token::Seq => {
                self.enter()?;
                let mut items = Vec::new();
                while self.next_item(b']', !items.is_empty())? {
                    items.push(self.value()?);
                }
                Value::Array(items)
            }
            Token::Map => {
                self.enter()?;
                let mut map = serde_json::Map::new();
                let mut started = false;
                while self.next_item(b'}', started)? {
                    started = true;
                    let key = self.string()?.into_owned();
                    self.expect(b':')?;
                    map.insert(key, self.value()?);
                }
                Value::Object(map)
            }
        })
    }

    /// Reads the value at the position into a tree.
    fn node(&mut self) -> Result<Node<'de>, SyntaxError> {
        Ok(match self.token()? {
            Token::Null => Node::Null,
            Token::Bool(b) => Node::Bool(b),
            Token::Number(n) => Node::Number(n),
            Token::Str(s) => Node::Str(s),
            Token::Seq => {
                self.enter()?;
                let mut items = Vec::new();
                while self.next_item(b']', !items.is_empty())? {
                    items.push(self.node()?);
                }
                Node::Seq(items)
            }
            Token::Map => {
                self.enter()?;
                let mut entries = Vec::new();
                while self.next_item(b'}', !entries.is_empty())? {
                    let key = self.string()?;
                    self.expect(b':')?;
                    entries.push((key, self.node()?));
                }
                Node::Map(entries)
            }
        })
    }

    /// Skips the value at the position and returns its text.
    fn span(&mut self) -> Result<&'de str, SyntaxError> {
        self.peek();
        let start = self.pos;
        self.skip_value()?;
        Ok(&self.text[start..self.pos])
    }

    /// Follows `path[depth..]` from the value at the position, reading the `wanted`
    /// fields of the map at its end with `read`, and skipping everything else; the whole
    /// value is consumed. A key written twice counts as its last value, as in a `Value`.
    fn follow<T>(
        &mut self,
        path: &[&str],
        depth: usize,
        wanted: &[&str],
        read: &mut dyn FnMut(&str, &mut Cursor<'de>) -> Result<T, SyntaxError>,
    ) -> Result<Fields<T>, SyntaxError> {
        if self.peek() != Some(b'{') {
            self.skip_value()?;
            return Ok(Fields::Missing(depth));
        }
        self.pos += 1;
        self.enter()?;
        let mut found: Fields<T> = match path.get(depth) {
            Some(_) => Fields::Missing(depth),
            None => Fields::Found(wanted.iter().map(|_| None).collect()),
        };
        let mut started = false;
        while self.next_item(b'}', started)? {
            started = true;
            let key = self.string()?;
            self.expect(b':')?;
            match (path.get(depth), &mut found) {
                (Some(step), _) if *step == key => {
                    found = if self.peek() == Some(b'n') {
                        self.skip_value()?;
                        Fields::Missing(depth)
                    } else {
                        self.follow(path, depth + 1, wanted, read)?
                    };
                }
                (None, Fields::Found(slots)) => match wanted.iter().position(|w| *w == key) {
                    Some(slot) => slots[slot] = Some(read(&key, self)?),
                    None => self.skip_value()?,
                },
                _ => self.skip_value()?,
            }
        }
        Ok(found)
    }
}

impl<'de> Cursor<'de> {
    /// Follows `tokens` from the value at the position and reads the container at their
    /// end (see [`container_at`]); the whole value is consumed.
    fn find(&mut self, tokens: &[Cow<'_, str>]) -> Result<Option<Container<'de>>, SyntaxError> {
        let Some((token, rest)) = tokens.split_first() else {
            return self.container();
        };
        let index = match self.peek() {
            Some(b'{') => None,
            Some(b'[') => match list_index(token) {
                Some(index) => Some(index),
                None => return self.skip_value().map(|()| None),
            },
            _ => return self.skip_value().map(|()| None),
        };
        self.pos += 1;
        self.enter()?;
        let close = if index.is_some() { b']' } else { b'}' };
        let (mut found, mut seen, mut count) = (None, 0, 0);
        while self.next_item(close, count > 0)? {
            count += 1;
            let here = match index {
                Some(index) => count - 1 == index,
                None => {
                    let key = self.string()?;
                    self.expect(b':')?;
                    key == **token
                }
            };
            if here {
                seen += 1;
                found = self.find(rest)?;
            } else {
                self.skip_value()?;
            }
        }
        Ok(if seen == 1 { found } else { None })
    }

    /// Reads the list or map at the position with where its items are (`None`, and the
    /// value skipped, when it is neither).
    fn container(&mut self) -> Result<Option<Container<'de>>, SyntaxError> {
        let is_map = match self.peek() {
            Some(b'{') => true,
            Some(b'[') => false,
            _ => return self.skip_value().map(|()| None),
        };
        let open = self.pos;
        self.pos += 1;
        self.enter()?;
        let close = if is_map { b'}' } else { b']' };
        let mut items = Vec::new();
        while self.next_item(close, !items.is_empty())? {
            self.peek();
            let start = self.pos;
            let key = match is_map {
                true => {
                    let key = self.string()?;
                    self.expect(b':')?;
                    self.peek();
                    Some(key)
                }
                false => None,
            };
            let value_start = self.pos;
            self.skip_value()?;
            items.push(Item {
                key,
                start,
                value: value_start..self.pos,
            });
        }
        Ok(Some(Container {
            is_map,
            open,
            items,
        }))
    }
}

/// A list index as a JSON pointer writes it (RFC 6901): digits, no leading zero, no
/// sign. The one reading of an index, for the text and the tree patches alike.
pub(crate) fn list_index(token: &str) -> Option<usize> {
    let digits = token.bytes().all(|b| b.is_ascii_digit());
    if token.is_empty() || !digits || (token.len() > 1 && token.starts_with('0')) {
        return None;
    }
    token.parse().ok()
}

/// Where the first byte that ends a string's plain run is in `bytes` from `from` on: a
/// `"`, a `\` or a control character (which JSON does not allow in a string). Eight
/// bytes at a time, as strings (keys, names, images) are most of a request's text.
fn find_string_special(bytes: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // A byte of `v` is zero where `(v - ONES) & !v` has its high bit set; the lowest such
    // bit is the first zero byte (little-endian), false hits only come after a true one.
    let zero_byte = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    let mut i = from;
    while let Some(chunk) = bytes.get(i..).and_then(<[u8]>::first_chunk::<8>) {
        let word = u64::from_le_bytes(*chunk);
        // A byte below 0x20 is one where `word - 0x20…` borrows; as for a zero byte, the
        // lowest hit is exact.
        let control = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
        let hits = zero_byte(word ^ (ONES * u64::from(b'"')))
            | zero_byte(word ^ (ONES * u64::from(b'\\')))
            | control;
        if hits != 0 {
            return Some(i + (hits.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    let rest = bytes.get(i..)?;
    rest.iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .map(|p| i + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> Result<Value, String> {
        parse_value(text.as_bytes())
    }

    #[test]
    fn parses_what_serde_json_parses() {
        for text in [
            r#"{"a": [1, -2, 3.5, 1e3, -0.0, 18446744073709551615, 18446744073709551616], "b": null}"#,
            r#"{"s": "plain", "e": "q\"b\\s\/n\nt\tr\rb\bf\fu\u00e9\ud83d\ude00"}"#,
            r#"  [true, false, {}, [], "", {"":{"x":[{}]}}]  "#,
            r#"{"dup": 1, "other": 2, "dup": 3}"#,
        ] {
            let theirs: Value = serde_json::from_str(text).unwrap();
            assert_eq!(value(text), Ok(theirs), "{text}");
        }
    }

    #[test]
    fn malformed_text_is_an_error_never_a_panic() {
        for text in [
            "",
            "{",
            "[",
            "{\"a\"",
            "{\"a\":",
            "{\"a\" 1}",
            "[1 2]",
            "[1,]x",
            "tru",
            "nul",
            "\"\\ud83d\"",
            "\"\\u12\"",
            "\"\\x\"",
            "\"open",
            "{} {}",
            "-",
            "1e",
            "{1: 2}",
        ] {
            assert!(value(text).is_err(), "{text:?}");
        }
        assert!(parse_value(b"\xff").is_err());
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(
            value(&deep),
            Err(
                "invalid JSON: recursion limit exceeded (values nested more than 127 deep)"
                    .to_string()
            )
        );
    }

    #[test]
    fn what_serde_json_refuses_the_reader_refuses() {
        // Found by the validate_bytes fuzz target once a patched object was answered as
        // its text: a number with a leading zero was read, and the answer was no JSON.
        for text in [
            "09",
            "-01",
            "[01]",
            "{\"a\":09}",
            "1.",
            "1.e5",
            "-.5",
            "1e+",
            "1E",
            "-",
            "1e400",
            "-1e400",
            "\"\\u+041\"",
            "\"\\u-041\"",
        ] {
            assert!(serde_json::from_str::<Value>(text).is_err(), "{text:?}");
            assert!(value(text).is_err(), "{text:?}");
            let mut cursor = Cursor::new(text);
            let skipped = cursor.skip_value().and_then(|()| match cursor.peek() {
                None => Ok(()),
                Some(_) => Err(syntax("trailing characters after the value")),
            });
            assert!(skipped.is_err(), "{text:?}");
        }
        for text in [
            "0",
            "-0",
            "1e05",
            "1E+5",
            "0.5e-3",
            "-12.25",
            "123456789012345678901234567890",
        ] {
            let expected: Value = serde_json::from_str(text).unwrap();
            assert_eq!(value(text), Ok(expected), "{text:?}");
        }
        // As deep as serde_json reads, and no deeper.
        for depth in [MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1] {
            let deep = "[".repeat(depth) + &"]".repeat(depth);
            assert_eq!(
                value(&deep).is_ok(),
                serde_json::from_str::<Value>(&deep).is_ok(),
                "{depth} deep"
            );
        }
    }

    #[test]
    fn what_a_skip_accepts_a_read_accepts() {
        // Found by the validate_bytes fuzz target: an invalid escape and control
        // characters in a string the scan skipped made the later read of the whole object
        // (for a mutation) fail. A skip now refuses what a read refuses.
        for bad in [
            r#""a\vb""#,
            "\"a\tb\"",
            "\"\u{1}\"",
            r#""\ud83d""#,
            r#""\u12x4""#,
        ] {
            let text = format!(r#"{{"skipped": {bad}, "spec": {{}}}}"#);
            assert!(value_of(&text).is_err(), "{text}");
            assert!(nodes_at(&text, &[], &["spec"]).is_err(), "{text}");
            assert!(
                fields_and_nested(&text, &[], "spec", &[]).is_err(),
                "{text}"
            );
        }
        let good = r#"{"skipped": "a\"b\\c\u00e9\ud83d\ude00", "spec": {}}"#;
        assert!(value_of(good).is_ok());
        assert!(nodes_at(good, &[], &["spec"]).is_ok());
    }

    #[test]
    fn follows_a_path_in_one_pass() {
        let text = r#"{"spec": {"replicas": 1, "template": {"metadata": {"labels": {"a": "b"}},
            "spec": {"containers": []}, "x": [1, {"spec": 2}]}}, "status": {"spec": 3}}"#;
        let found = nodes_at(text, &["spec", "template"], &["spec", "metadata", "gone"]).unwrap();
        let Fields::Found(nodes) = found else {
            panic!("{found:?}")
        };
        assert_eq!(
            nodes[0],
            Some(Node::parse(r#"{"containers": []}"#).unwrap())
        );
        assert_eq!(
            nodes[1],
            Some(Node::parse(r#"{"labels": {"a": "b"}}"#).unwrap())
        );
        assert_eq!(nodes[2], None);
    }

    #[test]
    fn a_way_that_stops_says_where() {
        let wanted = &["spec"];
        for (text, missing_at) in [
            (r#"{}"#, 0),
            (r#"{"spec": null}"#, 0),
            (r#"{"spec": 5}"#, 1),
            (r#"{"spec": {"template": null}}"#, 1),
            (r#"{"spec": {"template": []}}"#, 2),
            (r#"[]"#, 0),
        ] {
            assert_eq!(
                nodes_at(text, &["spec", "template"], wanted).unwrap(),
                Fields::Missing(missing_at),
                "{text}"
            );
        }
        // The last of a key written twice counts, as in a `Value`.
        let text = r#"{"spec": {"template": {"spec": 1}}, "spec": null}"#;
        assert_eq!(
            nodes_at(text, &["spec", "template"], wanted).unwrap(),
            Fields::Missing(0)
        );
        let text = r#"{"spec": null, "spec": {"template": {"spec": 1}}}"#;
        assert_eq!(
            nodes_at(text, &["spec", "template"], wanted).unwrap(),
            Fields::Found(vec![Some(Node::Number(JsonNumber::Unsigned(1)))])
        );
        assert!(nodes_at(r#"{"spec": {}} x"#, &["spec"], wanted).is_err());
    }

    #[test]
    fn the_request_and_its_envelope_in_one_pass() {
        let text = r#"{"settings": {"a": 1}, "request": {"uid": "u", "object": {"k": "v"}}}"#;
        let (envelope, request) =
            fields_and_nested(text, &["settings"], "request", &["uid", "object", "x"]).unwrap();
        assert_eq!(envelope, vec![Some(r#"{"a": 1}"#)]);
        assert_eq!(
            request,
            Some(Fields::Found(vec![
                Some(r#""u""#),
                Some(r#"{"k": "v"}"#),
                None
            ]))
        );
        let (_, request) = fields_and_nested("{}", &["settings"], "request", &["uid"]).unwrap();
        assert_eq!(request, None);
        let (_, request) =
            fields_and_nested(r#"{"request": 1}"#, &["settings"], "request", &["uid"]).unwrap();
        assert_eq!(request, Some(Fields::Missing(0)));
        assert!(fields_and_nested("[]", &["settings"], "request", &["uid"]).is_err());
    }

    #[test]
    fn strings_are_found_eight_bytes_at_a_time() {
        let text = "abcdefghijklmnop\"";
        for from in 0..text.len() {
            assert_eq!(find_string_special(text.as_bytes(), from), Some(16));
        }
        assert_eq!(find_string_special(b"abcdefgh\\ijk", 0), Some(8));
        assert_eq!(find_string_special(b"abcdefghijk", 0), None);
        assert_eq!(find_string_special(b"ab", 5), None);
        // A byte above 0x80 next to the quote is no false hit.
        assert_eq!(find_string_special("é\"".as_bytes(), 0), Some(2));
        // A control character ends the run too (JSON does not allow one in a string).
        assert_eq!(find_string_special(b"abcdefghij\tkl", 0), Some(10));
        assert_eq!(find_string_special(b"ab\x1f", 0), Some(2));
        assert_eq!(find_string_special(b"abcdefgh \x7f~", 0), None);
    }
}
