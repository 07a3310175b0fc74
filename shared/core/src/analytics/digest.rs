//! A person's digest, and the binary form it is stored in.
//!
//! Stored (format 3), the digest is a JSON document `{"v":3,"digest":"<base64>"}`
//! around these bytes (integers are LEB128 varints, strings a varint length and
//! UTF-8):
//!
//! ```text
//! [3] basis  valid_until: [0] | [1][i64 LE, µs]
//! names: count, name…                       the person's distinct types
//! windows: count, each:
//!   name persons sessions events
//!   types: count, (name index, events, persons, entries, exits)…
//!   transitions: count, (from index, to index, count)…
//!   paths: count, (steps, name index × steps, sessions)…
//!   funnels: count, (id, reached: count, n…, step_ms: count, (count, (ms, n)…)…)…
//! ```
//!
//! Each type is named once; the job decodes straight into its sums by id
//! ([`super::Sums`]) without building maps of strings. A digest of an earlier format
//! does not decode: the job then recomputes it from the Tape, as for any stale one.

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ops::Range;

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

const FORMAT: u8 = 3;

impl PersonDigest {
    /// Decodes a stored digest (a document body) into its plain form.
    pub fn from_body(body: &str) -> Option<Self> {
        let mut buf = Vec::new();
        let decoded = Decoded::of_body(body, &mut buf)?;
        let mut sums = super::Sums::default();
        sums.add(&decoded);
        let windows = (decoded.windows.iter())
            .map(|w| (w.name.to_owned(), sums.tally(w.name)))
            .collect();
        Some(Self {
            basis: decoded.basis.to_owned(),
            valid_until: decoded.valid_until,
            windows,
        })
    }
}

/// The document body around a digest's bytes.
pub fn body_of(bytes: &[u8]) -> String {
    let engine = &base64::engine::general_purpose::STANDARD;
    format!(r#"{{"v":{FORMAT},"digest":"{}"}}"#, engine.encode(bytes))
}

/// Appends a digest's parts to its bytes.
pub(super) struct Writer(pub Vec<u8>);

impl Writer {
    pub fn new(basis: &str, valid_until: Option<DateTime<Utc>>) -> Self {
        let mut w = Self(Vec::with_capacity(256));
        w.0.push(FORMAT);
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

    fn str(&mut self) -> Option<&'a str> {
        let len = self.count()?;
        let (s, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        std::str::from_utf8(s).ok()
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

/// One window of a decoded digest; ids index the digest's names.
pub(super) struct DecodedWindow<'a> {
    pub name: &'a str,
    pub persons: u64,
    pub sessions: u64,
    pub events: u64,
    pub types: Vec<(u32, TypeTally)>,
    pub transitions: Vec<(u32, u32, u64)>,
    /// (steps in `path_steps`, sessions)
    pub paths: Vec<(Range<usize>, u64)>,
    pub path_steps: Vec<u32>,
    pub funnels: Vec<(&'a str, FunnelTally)>,
}

/// A stored digest, checked whole, its strings borrowed from the bytes.
pub(super) struct Decoded<'a> {
    pub basis: &'a str,
    pub valid_until: Option<DateTime<Utc>>,
    pub names: Vec<&'a str>,
    pub windows: Vec<DecodedWindow<'a>>,
}

#[derive(Deserialize)]
struct Body<'a> {
    v: u8,
    #[serde(borrow)]
    digest: std::borrow::Cow<'a, str>,
}

impl<'a> Decoded<'a> {
    /// Decodes a document body, its bytes into `buf`; `None` for anything but a
    /// well-formed digest of this format.
    pub fn of_body(body: &str, buf: &'a mut Vec<u8>) -> Option<Self> {
        let body: Body = serde_json::from_str(body).ok()?;
        if body.v != FORMAT {
            return None;
        }
        buf.clear();
        let engine = &base64::engine::general_purpose::STANDARD;
        engine.decode_vec(body.digest.as_bytes(), buf).ok()?;
        Self::of_bytes(buf)
    }

    pub fn of_bytes(bytes: &'a [u8]) -> Option<Self> {
        let mut r = Reader { bytes };
        if r.byte()? != FORMAT {
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
        let names = (0..r.count()?)
            .map(|_| r.str())
            .collect::<Option<Vec<_>>>()?;
        let windows = (0..r.count()?)
            .map(|_| Self::window(&mut r, names.len()))
            .collect::<Option<_>>()?;
        r.bytes.is_empty().then_some(Self {
            basis,
            valid_until,
            names,
            windows,
        })
    }

    fn window(r: &mut Reader<'a>, names: usize) -> Option<DecodedWindow<'a>> {
        let (name, persons, sessions, events) = (r.str()?, r.u()?, r.u()?, r.u()?);
        let types = (0..r.count()?)
            .map(|_| {
                let ty = r.index(names)?;
                let (events, persons, entries, exits) = (r.u()?, r.u()?, r.u()?, r.u()?);
                Some((
                    ty,
                    TypeTally {
                        events,
                        persons,
                        entries,
                        exits,
                    },
                ))
            })
            .collect::<Option<_>>()?;
        let transitions = (0..r.count()?)
            .map(|_| Some((r.index(names)?, r.index(names)?, r.u()?)))
            .collect::<Option<_>>()?;
        let (mut paths, mut path_steps) = (Vec::new(), Vec::new());
        for _ in 0..r.count()? {
            let start = path_steps.len();
            for _ in 0..r.count()? {
                path_steps.push(r.index(names)?);
            }
            paths.push((start..path_steps.len(), r.u()?));
        }
        let funnels = (0..r.count()?).map(|_| r.funnel()).collect::<Option<_>>()?;
        Some(DecodedWindow {
            name,
            persons,
            sessions,
            events,
            types,
            transitions,
            paths,
            path_steps,
            funnels,
        })
    }
}
