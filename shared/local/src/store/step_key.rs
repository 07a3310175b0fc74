//! A second view of the keys of `tape_steps`: the same table, the same encoding and
//! type name as `(&str, i64, u128)`, but the partition comes back as bytes, so a
//! read of a million rows checks no UTF-8 (redb's `&str` does, row by row). The
//! partitions were written as `&str`; a reader compares them with its own bytes.

use redb::{Key, TableDefinition, TypeName, Value};
use std::cmp::Ordering;

/// The typed key the writer uses.
type Typed = (&'static str, i64, u128);

/// [`super::STEPS`] read through [`StepKeyBytes`].
pub(super) const STEPS_BY_BYTES: TableDefinition<StepKeyBytes, &[u8]> =
    TableDefinition::new("tape_steps");

/// `(partition, time µs, event hash)` with the partition as bytes.
#[derive(Debug)]
pub(super) struct StepKeyBytes;

impl Value for StepKeyBytes {
    type SelfType<'a> = (&'a [u8], i64, u128);
    type AsBytes<'a> = Vec<u8>;

    fn fixed_width() -> Option<usize> {
        <Typed as Value>::fixed_width()
    }

    /// redb's tuple layout: the partition's length (1, 3 or 5 bytes), the partition,
    /// then the time and the hash, little-endian.
    fn from_bytes<'a>(data: &'a [u8]) -> Self::SelfType<'a>
    where
        Self: 'a,
    {
        let (len, at) = match data[0] {
            n @ 0..=253 => (n as usize, 1),
            254 => (u16::from_le_bytes([data[1], data[2]]) as usize, 3),
            255 => (
                u32::from_le_bytes([data[1], data[2], data[3], data[4]]) as usize,
                5,
            ),
        };
        let (pk, rest) = data[at..].split_at(len);
        let (time, hash) = rest.split_at(8);
        (
            pk,
            i64::from_le_bytes(time.try_into().expect("8 bytes")),
            u128::from_le_bytes(hash.try_into().expect("16 bytes")),
        )
    }

    /// Only for range bounds, whose partitions are the reader's own strings.
    fn as_bytes<'a, 'b: 'a>(value: &'a Self::SelfType<'b>) -> Vec<u8>
    where
        Self: 'b,
    {
        let pk = std::str::from_utf8(value.0).expect("a bound's partition is a string");
        <Typed as Value>::as_bytes(&(pk, value.1, value.2))
    }

    fn type_name() -> TypeName {
        <Typed as Value>::type_name()
    }
}

impl Key for StepKeyBytes {
    fn compare(data1: &[u8], data2: &[u8]) -> Ordering {
        <Typed as Key>::compare(data1, data2)
    }

    fn separator<'a>(left: &'a [u8], right: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        <Typed as Key>::separator(left, right)
    }

    fn min_encoded_key() -> Option<std::borrow::Cow<'static, [u8]>> {
        <Typed as Key>::min_encoded_key()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::ReadableDatabase;

    #[test]
    fn the_bytes_view_reads_what_the_typed_key_wrote() {
        for len in [0, 1, 20, 253, 254, 255, 300, 70_000] {
            let pk = "p".repeat(len);
            for (t, h) in [
                (0, 0),
                (-5, 7),
                (i64::MIN, u128::MAX),
                (1_764_000_000, 1 << 100),
            ] {
                let bytes = <Typed as Value>::as_bytes(&(pk.as_str(), t, h));
                assert_eq!(
                    StepKeyBytes::from_bytes(&bytes),
                    (pk.as_bytes(), t, h),
                    "len {len}"
                );
                assert_eq!(StepKeyBytes::as_bytes(&(pk.as_bytes(), t, h)), bytes);
            }
        }
    }

    #[test]
    fn the_bytes_view_opens_the_typed_table_and_sorts_alike() {
        let dir = tempfile::tempdir().unwrap();
        let db = redb::Database::create(dir.path().join("db")).unwrap();
        let typed: TableDefinition<Typed, &[u8]> = TableDefinition::new("tape_steps");
        let txn = db.begin_write().unwrap();
        {
            let mut table = txn.open_table(typed).unwrap();
            for (pk, t) in [("b#2", 3), ("a#1", 9), ("a#1", -1), ("é#x", 0)] {
                table.insert((pk, t, 1u128), [t as u8].as_slice()).unwrap();
            }
        }
        txn.commit().unwrap();
        let txn = db.begin_read().unwrap();
        let table = txn.open_table(STEPS_BY_BYTES).unwrap();
        let keys: Vec<(Vec<u8>, i64)> = (table.range((b"a#1".as_slice(), 0, 0)..).unwrap())
            .map(|row| {
                let (key, _) = row.unwrap();
                let (pk, t, _) = key.value();
                (pk.to_vec(), t)
            })
            .collect();
        let expected = [("a#1", 9), ("b#2", 3), ("é#x", 0)];
        let expected: Vec<(Vec<u8>, i64)> = (expected.iter())
            .map(|(pk, t)| (pk.as_bytes().to_vec(), *t))
            .collect();
        assert_eq!(keys, expected);
    }
}
