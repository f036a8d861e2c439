//! The first value recorded for each key, for the lists a request builds as it goes
//! (findings seen across passes, the first container of each image, the groups of a
//! path): scanned while there are few keys, as in most pods, where comparing a few costs
//! less than hashing each; hashed beyond, as a pod may have thousands of containers.

use std::collections::HashMap;
use std::hash::Hash;

/// Up to how many keys a [`FirstSeen`] scans.
const SCANNED: usize = 16;

pub enum FirstSeen<K, V> {
    Few(Vec<(K, V)>),
    Many(HashMap<K, V>),
}

impl<K, V> Default for FirstSeen<K, V> {
    fn default() -> Self {
        FirstSeen::Few(Vec::new())
    }
}

impl<K: Hash + Eq, V> FirstSeen<K, V> {
    pub fn get(&self, key: &K) -> Option<&V> {
        match self {
            FirstSeen::Few(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            FirstSeen::Many(entries) => entries.get(key),
        }
    }

    pub fn contains(&self, key: &K) -> bool {
        self.get(key).is_some()
    }

    /// Records `value` for `key` unless the key has one already; whether it was new.
    pub fn insert(&mut self, key: K, value: V) -> bool {
        if self.contains(&key) {
            return false;
        }
        match self {
            FirstSeen::Few(entries) if entries.len() < SCANNED => entries.push((key, value)),
            FirstSeen::Few(entries) => {
                let mut hashed: HashMap<K, V> = entries.drain(..).collect();
                hashed.insert(key, value);
                *self = FirstSeen::Many(hashed);
            }
            FirstSeen::Many(entries) => {
                entries.insert(key, value);
            }
        }
        true
    }

    pub fn is_empty(&self) -> bool {
        match self {
            FirstSeen::Few(entries) => entries.is_empty(),
            FirstSeen::Many(entries) => entries.is_empty(),
        }
    }
}

impl<K: Hash + Eq, V> Extend<(K, V)> for FirstSeen<K, V> {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, entries: I) {
        for (key, value) in entries {
            self.insert(key, value);
        }
    }
}

impl<K: Hash + Eq, V> FromIterator<(K, V)> for FirstSeen<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(entries: I) -> Self {
        let mut seen = FirstSeen::default();
        seen.extend(entries);
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_the_same_before_and_after_it_starts_hashing() {
        let mut seen = FirstSeen::default();
        for i in 0..3 * SCANNED {
            assert!(seen.insert(i, i * 10), "{i} is new");
            assert!(!seen.insert(i, 0), "{i} is there");
            // The first value stays.
            assert_eq!(seen.get(&i), Some(&(i * 10)));
            if i + 1 == SCANNED {
                assert!(matches!(seen, FirstSeen::Few(_)));
            }
        }
        assert!(matches!(seen, FirstSeen::Many(_)));
        assert!((0..3 * SCANNED).all(|i| seen.get(&i) == Some(&(i * 10))));
        assert!(!seen.contains(&(3 * SCANNED)));
        assert!(!seen.is_empty());
        assert!(FirstSeen::<u8, ()>::default().is_empty());
    }
}
