//! A person's digest, and the binary form it is stored in.
//!
//! Stored (format 4), the digest is a JSON document `{"v":4,"digest":"<base64>"}`
//! around these bytes (integers are LEB128 varints, strings a varint length and
//! UTF-8):
//!
//! ```text
//! [4] basis  valid_until: [0] | [1][i64 LE, µs]
//! types: count, id…                         the person's distinct types, as ids
//!                                           into the tenant's type dictionary
//! windows: count, each:
//!   name persons sessions events
//!   types: count, (name index, events, persons, entries, exits)…
//!   transitions: count, (from index, to index, count)…
//!   paths: count, (steps, name index × steps, sessions)…
//!   funnels: count, (id, reached: count, n…, step_ms: count, (count, (ms, n)…)…)…
//! ```
//!
//! The tenant's type dictionary (`keys::TYPES`, names in id order) is written
//! before any digest that uses one of its ids, and only ever grows. Format 3, written
//! before it, is the same but for its types, named in full (`names: count, name…`):
//! both are read. The job walks the bytes straight into its sums by id
//! ([`super::Sums`], a [`Visit`]) without building anything per digest. A digest of
//! an earlier format does not decode: the job then recomputes it from the Tape, as
//! for any stale one.

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write;

use super::{FunnelTally, Tally, TypeTally};

/// A person's tally per window, and until when it holds: the time at which one of
/// their events leaves (or enters) a window. The plain form of a digest, as
/// [`super::PersonFold::finish`] gives it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonDigest {
    pub basis: String,
    pub valid_until: Option<DateTime<Utc>>,
    pub windows: BTreeMap<String, Tally>,
}

/// Types as ids into the tenant's dictionary.
pub(super) const FORMAT: u8 = 4;
/// Types named in full (written before the dictionary).
pub(super) const NAMED: u8 = 3;

impl PersonDigest {
    /// Decodes a stored digest (a document body) into its plain form; a digest of
    /// format 4 needs `types`, the tenant's dictionary it was written with.
    pub fn from_body(body: &str, types: &[String]) -> Option<Self> {
        let mut buf = Vec::new();
        bytes_of_body(body, &mut buf)?;
        let mut names = WindowNames(Vec::new());
        let head = walk(&buf, &mut names, &mut Vec::new())?;
        let mut sums = super::Sums::with_types(types)?;
        sums.add_bytes(&buf).then_some(())?;
        let windows = (names.0.iter())
            .map(|w| ((*w).to_owned(), sums.tally(w)))
            .collect();
        Some(Self {
            basis: head.basis.to_owned(),
            valid_until: head.valid_until,
            windows,
        })
    }
}

/// The names of a digest's windows.
struct WindowNames<'a>(Vec<&'a str>);

impl<'a> Visit<'a> for WindowNames<'a> {
    fn window(&mut self, name: &'a str, _persons: u64, _sessions: u64, _events: u64) {
        self.0.push(name);
    }
}

/// The document body around a digest's bytes (its format is their first byte).
pub fn body_of(bytes: &[u8]) -> String {
    let engine = &base64::engine::general_purpose::STANDARD;
    let mut body = String::with_capacity(24 + bytes.len().div_ceil(3) * 4);
    let format = bytes.first().copied().unwrap_or(FORMAT);
    let _ = write!(body, r#"{{"v":{format},"digest":""#);
    engine.encode_string(bytes, &mut body);
    body.push_str(r#""}"#);
    body
}

/// Appends a digest's parts to its bytes.
pub(super) struct Writer(pub Vec<u8>);

impl Writer {
    /// A digest of `format` ([`FORMAT`] or [`NAMED`]).
    pub fn new(format: u8, basis: &str, valid_until: Option<DateTime<Utc>>) -> Self {
        let mut w = Self(Vec::with_capacity(256));
        w.0.push(format);
        w.str(basis);
        match valid_until {
            Some(t) => {
                w.0.push(1);
                w.0.extend_from_slice(&t.timestamp_micros().to_le_bytes());
            }
            None => w.0.push(0),
        }
        w
    }

    pub fn u(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push(v as u8 | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    pub fn str(&mut self, s: &str) {
        self.u(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }

    pub fn funnel(&mut self, id: &str, tally: &FunnelTally) {
        self.str(id);
        self.u(tally.reached.len() as u64);
        for n in &tally.reached {
            self.u(*n);
        }
        self.u(tally.step_ms.len() as u64);
        for durations in &tally.step_ms {
            self.u(durations.len() as u64);
            for (ms, n) in durations {
                self.u(*ms);
                self.u(*n);
            }
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.bytes.split_first()?;
        self.bytes = rest;
        Some(b)
    }

    fn u(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f).checked_shl(shift)?;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }

    /// A count of items of at least one byte each: never more than the bytes left.
    fn count(&mut self) -> Option<usize> {
        let n = usize::try_from(self.u()?).ok()?;
        (n <= self.bytes.len()).then_some(n)
    }

    fn index(&mut self, names: usize) -> Option<u32> {
        let i = self.u()?;
        (i < names as u64).then_some(i as u32)
    }

    /// A string's bytes, not checked as UTF-8.
    fn raw(&mut self) -> Option<&'a [u8]> {
        let len = self.count()?;
        let (s, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Some(s)
    }

    fn str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.raw()?).ok()
    }

    fn funnel(&mut self) -> Option<(&'a str, FunnelTally)> {
        let id = self.str()?;
        let reached = (0..self.count()?)
            .map(|_| self.u())
            .collect::<Option<_>>()?;
        let mut step_ms = Vec::new();
        for _ in 0..self.count()? {
            let durations = (0..self.count()?)
                .map(|_| Some((self.u()?, self.u()?)))
                .collect::<Option<_>>()?;
            step_ms.push(durations);
        }
        Some((id, FunnelTally { reached, step_ms }))
    }
}

/// A digest's parts, in their stored order: [`walk`] hands them over one by one, so
/// nothing is built per digest. Indexes are into the digest's names.
pub(super) trait Visit<'a> {
    /// One of the person's types, in index order (all come before any window), as
    /// bytes: UTF-8 unless [`Check`] refused them, so a visitor that meets a name it
    /// knows compares bytes and validates none. `None` stops the walk.
    fn name(&mut self, _name: &'a [u8]) -> Option<()> {
        Some(())
    }
    /// One of the person's types as an id into the tenant's dictionary (format 4), in
    /// index order like [`Self::name`]. `None` stops the walk.
    fn id(&mut self, _id: u64) -> Option<()> {
        Some(())
    }
    /// A window begins; its types, transitions, paths and funnels follow.
    fn window(&mut self, _name: &'a str, _persons: u64, _sessions: u64, _events: u64) {}
    fn ty(&mut self, _ty: u32, _tally: &TypeTally) {}
    fn transition(&mut self, _from: u32, _to: u32, _n: u64) {}
    fn path(&mut self, _steps: &[u32], _n: u64) {}
    fn funnel(&mut self, _id: &'a str, _tally: &FunnelTally) {}
}

/// Visits nothing: [`walk`] with it checks a digest whole, its names' UTF-8 too, and
/// its type ids against the number of types in the tenant's dictionary.
pub(super) struct Check(pub usize);

impl<'a> Visit<'a> for Check {
    fn name(&mut self, name: &'a [u8]) -> Option<()> {
        std::str::from_utf8(name).ok().map(drop)
    }

    fn id(&mut self, id: u64) -> Option<()> {
        (id < self.0 as u64).then_some(())
    }
}

/// A digest's header, returned by [`walk`].
pub(super) struct Head<'a> {
    pub basis: &'a str,
    pub valid_until: Option<DateTime<Utc>>,
    pub windows: usize,
}

#[derive(Deserialize)]
struct Body<'a> {
    v: u8,
    #[serde(borrow)]
    digest: std::borrow::Cow<'a, str>,
}

/// A document body's digest bytes, into `buf`; `None` for anything but a document
/// of this format.
pub(super) fn bytes_of_body(body: &str, buf: &mut Vec<u8>) -> Option<()> {
    let body: Body = serde_json::from_str(body).ok()?;
    if body.v != FORMAT && body.v != NAMED {
        return None;
    }
    buf.clear();
    let engine = &base64::engine::general_purpose::STANDARD;
    engine.decode_vec(body.digest.as_bytes(), buf).ok()
}

/// Walks a digest's bytes, handing each part to `visit` (`path` is scratch); `None`
/// for bytes that are not a well-formed digest of this format, possibly after some
/// parts were handed over: walk with [`Check`] first to add nothing from such bytes.
pub(super) fn walk<'a>(
    bytes: &'a [u8],
    visit: &mut impl Visit<'a>,
    path: &mut Vec<u32>,
) -> Option<Head<'a>> {
    let mut r = Reader { bytes };
    let format = r.byte()?;
    if format != FORMAT && format != NAMED {
        return None;
    }
    let basis = r.str()?;
    let valid_until = match r.byte()? {
        0 => None,
        1 => {
            let (micros, rest) = r.bytes.split_first_chunk::<8>()?;
            r.bytes = rest;
            Some(DateTime::from_timestamp_micros(i64::from_le_bytes(
                *micros,
            ))?)
        }
        _ => return None,
    };
    let names = r.count()?;
    for _ in 0..names {
        match format {
            NAMED => visit.name(r.raw()?)?,
            _ => visit.id(r.u()?)?,
        }
    }
    let windows = r.count()?;
    for _ in 0..windows {
        walk_window(&mut r, names, visit, path)?;
    }
    r.bytes.is_empty().then_some(Head {
        basis,
        valid_until,
        windows,
    })
}

fn walk_window<'a>(
    r: &mut Reader<'a>,
    names: usize,
    visit: &mut impl Visit<'a>,
    path: &mut Vec<u32>,
) -> Option<()> {
    let (name, persons, sessions, events) = (r.str()?, r.u()?, r.u()?, r.u()?);
    visit.window(name, persons, sessions, events);
    for _ in 0..r.count()? {
        let ty = r.index(names)?;
        let (events, persons, entries, exits) = (r.u()?, r.u()?, r.u()?, r.u()?);
        let tally = TypeTally {
            events,
            persons,
            entries,
            exits,
        };
        visit.ty(ty, &tally);
    }
    for _ in 0..r.count()? {
        let (from, to, n) = (r.index(names)?, r.index(names)?, r.u()?);
        visit.transition(from, to, n);
    }
    for _ in 0..r.count()? {
        path.clear();
        for _ in 0..r.count()? {
            path.push(r.index(names)?);
        }
        visit.path(path, r.u()?);
    }
    for _ in 0..r.count()? {
        let (id, tally) = r.funnel()?;
        visit.funnel(id, &tally);
    }
    Some(())
}
