//! Property test: any sequence of log calls reads back exactly.

use crate::util::temp_store;
use proptest::prelude::*;
use runlog_core::{Store, Value};
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
enum Call {
    Log(usize, f64),
    LogAt(usize, i64, f64),
    List(usize, Vec<f64>),
    Row(usize, Vec<Value>),
    Text(usize, String),
    Tag(usize, String),
    Flush,
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![any::<f64>(), Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY), -1e6f64..1e6]
}

fn cell() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::I64),
        value().prop_map(Value::F64),
        "\\PC{0,12}".prop_map(Value::Str)
    ]
}

fn call() -> impl Strategy<Value = Call> {
    prop_oneof![
        6 => (0..4usize, value()).prop_map(|(n, v)| Call::Log(n, v)),
        2 => (0..4usize, -1000i64..1000, value()).prop_map(|(n, s, v)| Call::LogAt(n, s, v)),
        1 => (0..4usize, prop::collection::vec(value(), 0..50)).prop_map(|(n, v)| Call::List(n, v)),
        2 => (0..2usize, prop::collection::vec(cell(), 1..5)).prop_map(|(n, v)| Call::Row(n, v)),
        1 => (0..2usize, "\\PC{0,40}").prop_map(|(n, t)| Call::Text(n, t)),
        1 => (0..2usize, "\\PC{0,20}").prop_map(|(n, t)| Call::Tag(n, t)),
        1 => Just(Call::Flush),
    ]
}

const NAMES: [&str; 4] = ["loss", "λ/acc", "a b", "x"];

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn random_log_calls_read_back_exactly(calls in prop::collection::vec(call(), 0..300)) {
        let t = temp_store();
        let store = Store::open(&t.path).expect("open");
        let run = store.start_run("prop").expect("run");
        let mut series: BTreeMap<&str, Vec<(i64, f64)>> = BTreeMap::new();
        let mut next: BTreeMap<&str, i64> = BTreeMap::new();
        let mut rows: BTreeMap<&str, Vec<Vec<Value>>> = BTreeMap::new();
        let mut texts: Vec<(String, String)> = Vec::new();
        let mut tags: BTreeMap<String, String> = BTreeMap::new();
        for c in &calls {
            match c {
                Call::Log(n, v) => {
                    let name = NAMES[*n];
                    run.log(name, *v).expect("log");
                    let s = next.entry(name).or_insert(0);
                    series.entry(name).or_default().push((*s, *v));
                    *s += 1;
                }
                Call::LogAt(n, step, v) => {
                    let name = NAMES[*n];
                    run.log_at(name, *step, *v).expect("log_at");
                    series.entry(name).or_default().push((*step, *v));
                    next.insert(name, step + 1);
                }
                Call::List(n, vs) => {
                    let name = NAMES[*n];
                    run.log_list(name, vs).expect("list");
                    for v in vs {
                        let s = next.entry(name).or_insert(0);
                        series.entry(name).or_default().push((*s, *v));
                        *s += 1;
                    }
                }
                Call::Row(n, cells) => {
                    let name = ["r1", "r2"][*n];
                    run.log_row(name, cells.iter().enumerate().map(|(i, v)| (format!("c{i}"), v.clone())))
                        .expect("row");
                    rows.entry(name).or_default().push(cells.clone());
                }
                Call::Text(n, text) => {
                    let name = ["t1", "t2"][*n];
                    run.log_text(name, text).expect("text");
                    texts.push((name.to_string(), text.clone()));
                }
                Call::Tag(n, v) => {
                    let key = ["k1", "k2"][*n];
                    run.set_tag(key, v).expect("tag");
                    tags.insert(key.to_string(), v.clone());
                }
                Call::Flush => run.flush().expect("flush"),
            }
        }
        run.complete().expect("complete");
        let r = store.reader();
        for (name, mut want) in series {
            // The store returns a series in step order, logged order among equal steps (a stable sort).
            want.sort_by_key(|(s, _)| *s);
            let got: Vec<(i64, u64)> = r.series(run.id(), name).expect("series").iter()
                .map(|p| (p.step, p.value.to_bits())).collect();
            let want: Vec<(i64, u64)> = want.iter().map(|(s, v)| (*s, v.to_bits())).collect();
            prop_assert_eq!(got, want, "series {}", name);
        }
        for (name, want) in rows {
            let got = r.rows(run.id(), name).expect("rows");
            prop_assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(&want) {
                prop_assert_eq!(g.value.columns.len(), w.len());
                for ((_, gv), wv) in g.value.columns.iter().zip(w) {
                    prop_assert!(gv.same(wv), "{:?} != {:?}", gv, wv);
                }
            }
        }
        let got_texts: Vec<(String, String)> = r.texts(run.id(), None).expect("texts").into_iter()
            .map(|e| (e.name, e.value.text)).collect();
        prop_assert_eq!(got_texts, texts);
        prop_assert_eq!(r.run(run.id()).expect("run").tags, tags);
    }
}
