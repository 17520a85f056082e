//! Property tests: no input makes the decoder panic, and nothing is lost without a count.

use kdr_decode::{DecodeError, DecodeStats, Decoder, EventReader};
use kdr_model::Event;
use proptest::prelude::*;

const SAMPLES: [&str; 8] = [
    include_str!("data/audit.jsonl"),
    include_str!("data/eventlist.jsonl"),
    include_str!("data/aks.jsonl"),
    include_str!("data/gke.jsonl"),
    include_str!("data/eks.jsonl"),
    include_str!("data/azure-activity.jsonl"),
    include_str!("data/cloudtrail.jsonl"),
    include_str!("data/eventlist-pretty.json"),
];

fn sample_lines() -> Vec<&'static str> {
    SAMPLES[..7]
        .iter()
        .flat_map(|s| s.lines())
        .filter(|l| !l.trim().is_empty())
        .collect()
}

#[derive(Clone, Debug)]
enum Mutation {
    Truncate(usize),
    Delete(usize, usize),
    Insert(usize, String),
    Replace(usize, char),
    Duplicate(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let noise = prop_oneof![
        Just("\"".to_owned()),
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("[".to_owned()),
        Just(",".to_owned()),
        Just(":".to_owned()),
        Just("\\".to_owned()),
        Just("null".to_owned()),
        Just("\n".to_owned()),
        Just("-1e999".to_owned()),
        Just("\\u0000".to_owned()),
        Just("\u{1F600}".to_owned()),
        "\\PC{0,8}",
    ];
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 0usize..64).prop_map(|(a, n)| Mutation::Delete(a, n)),
        (any::<usize>(), noise).prop_map(|(a, s)| Mutation::Insert(a, s)),
        (any::<usize>(), any::<char>()).prop_map(|(a, c)| Mutation::Replace(a, c)),
        (any::<usize>(), 0usize..200).prop_map(|(a, n)| Mutation::Duplicate(a, n)),
    ]
}

/// Applies mutations on char boundaries, so the result stays a valid `&str`.
fn mutate(text: &str, mutations: &[Mutation]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for mutation in mutations {
        let len = chars.len();
        let at = |i: usize| if len == 0 { 0 } else { i % (len + 1) };
        match mutation {
            Mutation::Truncate(i) => chars.truncate(at(*i)),
            Mutation::Delete(i, n) => {
                let start = at(*i);
                let end = (start + n).min(len);
                chars.drain(start..end);
            }
            Mutation::Insert(i, s) => {
                let start = at(*i);
                chars.splice(start..start, s.chars());
            }
            Mutation::Replace(i, c) => {
                if len > 0 {
                    chars[i % len] = *c;
                }
            }
            Mutation::Duplicate(i, n) => {
                let start = at(*i);
                let end = (start + n).min(len);
                let copy: Vec<char> = chars[start..end].to_vec();
                chars.splice(end..end, copy);
            }
        }
    }
    chars.into_iter().collect()
}

/// Decodes one record and checks the counting contract.
fn check_record(record: &str) -> Result<(), TestCaseError> {
    let mut decoder = Decoder::new().with_max_record_bytes(1 << 20);
    let mut out: Vec<Event> = Vec::new();
    let mut errors: Vec<DecodeError> = Vec::new();
    decoder.decode_all(record, &mut out, &mut errors);
    let stats = decoder.stats();
    prop_assert_eq!(stats.records, 1);
    prop_assert_eq!(stats.events, out.len() as u64);
    prop_assert_eq!(stats.rejected, errors.len() as u64);
    for error in &errors {
        prop_assert!(!error.message.is_empty());
        prop_assert!(!error.to_string().is_empty());
    }
    if errors.is_empty() {
        // Nothing invalid is ever accepted without complaint.
        prop_assert!(
            serde_json::from_str::<serde::de::IgnoredAny>(record).is_ok(),
            "accepted invalid JSON: {}",
            record
        );
    }
    // The single-error API agrees.
    let mut again = Vec::new();
    let first = Decoder::new()
        .with_max_record_bytes(1 << 20)
        .decode(record, &mut again);
    prop_assert_eq!(first.err(), errors.into_iter().next());
    prop_assert_eq!(again.len(), out.len());
    Ok(())
}

/// Runs a whole input through the reader and checks that what it yields matches its counts.
fn check_reader(input: &[u8]) -> Result<DecodeStats, TestCaseError> {
    let mut reader = EventReader::with_decoder(
        "prop",
        std::io::BufReader::with_capacity(256, input),
        Decoder::new().with_max_record_bytes(64 * 1024),
    );
    let total_lines = input.split(|&b| b == b'\n').count() as u64;
    let mut events = 0u64;
    let mut errors = 0u64;
    for item in reader.by_ref() {
        match item {
            Ok(_) => events += 1,
            Err(error) => {
                errors += 1;
                prop_assert!(error.line >= 1 && error.line <= total_lines, "{}", error);
                prop_assert_eq!(error.source_name.as_str(), "prop");
            }
        }
    }
    let stats = reader.stats();
    prop_assert_eq!(stats.events, events);
    prop_assert_eq!(stats.rejected, errors);
    // Every record either produced something, was rejected, or held only skipped items or
    // empty lists, and a rejected record is always a counted record.
    prop_assert!(stats.records >= stats.rejected.min(1));
    Ok(stats)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_strings_never_panic(record in "\\PC{0,300}") {
        check_record(&record)?;
    }

    #[test]
    fn json_looking_noise_never_panics(
        record in "[{}\\[\\]\":,a-z0-9 \\\\.eE+-]{0,200}"
    ) {
        check_record(&record)?;
    }

    #[test]
    fn mutated_records_never_panic(
        index in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let lines = sample_lines();
        let record = mutate(index.get::<&str>(&lines), &mutations);
        check_record(&record)?;
    }

    #[test]
    fn reader_on_mutated_streams(
        picks in prop::collection::vec(
            (any::<prop::sample::Index>(), prop::collection::vec(mutation(), 0..3)),
            1..8,
        ),
        separator in prop_oneof![Just("\n"), Just("\r\n"), Just("\n\n")],
        pretty_first in any::<bool>(),
    ) {
        let lines = sample_lines();
        let mut input = String::new();
        if pretty_first {
            input.push_str(SAMPLES[7]);
        }
        for (index, mutations) in &picks {
            input.push_str(&mutate(index.get::<&str>(&lines), mutations));
            input.push_str(separator);
        }
        check_reader(input.as_bytes())?;
    }

    #[test]
    fn reader_on_mutated_pretty_document(mutations in prop::collection::vec(mutation(), 1..4)) {
        let input = mutate(SAMPLES[7], &mutations);
        check_reader(input.as_bytes())?;
    }

    #[test]
    fn reader_on_arbitrary_bytes(input in prop::collection::vec(any::<u8>(), 0..2000)) {
        check_reader(&input)?;
    }
}

#[test]
fn unmutated_samples_decode_cleanly() {
    for line in sample_lines() {
        let mut decoder = Decoder::new();
        let mut out = Vec::new();
        let mut errors = Vec::new();
        decoder.decode_all(line, &mut out, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert!(!out.is_empty() || decoder.stats().skipped > 0, "{line}");
    }
}
