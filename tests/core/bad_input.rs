//! Every invalid call fails with a message naming the value and the limit, and the run keeps working.

use crate::util::{png, temp_store};
use runlog_core::{ErrorKind, Limits, Store, Value};

fn assert_invalid(r: runlog_core::Result<()>, must_contain: &[&str]) {
    let e = r.expect_err("must be refused");
    let msg = e.to_string();
    for part in must_contain {
        assert!(msg.contains(part), "error {msg:?} should contain {part:?}");
    }
}

#[test]
fn invalid_calls_are_refused_clearly_and_the_run_keeps_working() {
    let t = temp_store();
    let store = Store::open(&t.path).expect("open");
    let run = store.start_run("bad").expect("run");
    let too_long = "n".repeat(Limits::LOCAL.max_name_chars + 1);

    assert_invalid(run.log("", 1.0), &["metric name is empty", "1 to 255"]);
    assert_invalid(run.log(&too_long, 1.0), &["256 characters", "the limit is 255"]);
    assert_invalid(run.log("a\nb", 1.0), &["control character", "\"a\\nb\""]);
    assert_invalid(run.log_list("", &[1.0]), &["metric name is empty"]);
    assert_invalid(run.log_row("r", Vec::<(String, Value)>::new()), &["row \"r\" has no columns"]);
    assert_invalid(run.log_row("r", [("", Value::from(1))]), &["column name", "empty"]);
    assert_invalid(run.log_row("r", [("a", Value::from(1)), ("a", Value::from(2))]), &["column \"a\" twice"]);
    let many: Vec<(String, Value)> =
        (0..=Limits::LOCAL.max_columns).map(|i| (format!("c{i}"), Value::from(1))).collect();
    assert_invalid(run.log_row("wide", many), &["1025 columns", "the limit is 1024"]);
    assert_invalid(
        run.log_table("t", [("a", vec![Value::from(1), Value::from(2)]), ("b", vec![Value::from(1)])]),
        &["column \"b\" has 1 values", "column \"a\" has 2"],
    );
    let big = "x".repeat(Limits::LOCAL.max_string_bytes + 1);
    assert_invalid(run.log_row("r", [("s", Value::from(big.as_str()))]), &["1048577 bytes", "the limit is 1048576"]);
    assert_invalid(run.log_image("img", b"GIF89a-not-accepted".as_slice(), ""), &["image \"img\"", "PNG or JPEG"]);
    assert_invalid(run.log_image("img", b"".as_slice(), ""), &["not PNG or JPEG", "0 bytes"]);
    let missing = t.dir.path().join("nope.png");
    assert_invalid(run.log_image("img", &missing, ""), &["nope.png"]);
    assert_invalid(run.upload_file("f", &missing), &["nope.png"]);
    assert_invalid(run.log_text("t", &"x".repeat(Limits::LOCAL.max_text_bytes + 1)), &["the limit is 1048576"]);
    assert_invalid(run.set_tag(&too_long, "v"), &["tag name", "the limit is 255"]);
    assert_invalid(run.end(runlog_core::RunStatus::Running, None), &["running is not a final status"]);

    run.log_param("lr", 0.1).expect("param");
    let e = run.log_param("lr", 0.2).expect_err("write-once");
    assert_eq!(e.kind(), ErrorKind::WriteOnce);
    assert!(e.to_string().contains("\"lr\" is already set to \"0.1\"") && e.to_string().contains("0.2"), "{e}");
    run.add_property("owner", "a").expect("property");
    assert_eq!(run.add_property("owner", "b").expect_err("write-once").kind(), ErrorKind::WriteOnce);

    // The run still works, and nothing that was refused was stored.
    run.log("ok", 1.0).expect("log after errors");
    run.log_image("img", &png(3, 3, 0), "fine").expect("image after errors");
    run.complete().expect("complete");
    let r = store.reader();
    let names: Vec<String> = r.metrics(run.id()).expect("metrics").into_iter().map(|m| m.name).collect();
    assert_eq!(names, vec!["img".to_string(), "ok".to_string()]);
    let info = r.run(run.id()).expect("info");
    assert_eq!(info.params.get("lr"), Some(&Value::F64(0.1)));
    assert_eq!(info.properties.get("owner").map(String::as_str), Some("a"));
}

#[test]
fn from_env_and_attach_explain_what_is_missing() {
    let out = crate::util::worker()
        .args(["load", "1", "1"])
        .env_remove("RUNLOG_STORE")
        .env_remove("RUNLOG_RUN_ID")
        .output()
        .expect("worker");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("RUNLOG_STORE is not set"), "{err}");

    let t = temp_store();
    let out = crate::util::worker()
        .args(["load", "1", "1"])
        .env("RUNLOG_STORE", &t.path)
        .env("RUNLOG_RUN_ID", "xyz")
        .output()
        .expect("worker");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("RUNLOG_RUN_ID") && err.contains("\"xyz\" is not 32 hexadecimal digits"), "{err}");

    let store = Store::open(&t.path).expect("open");
    let unknown = runlog_core::RunId::parse(&"0".repeat(32)).expect("id");
    let e = runlog_core::Run::attach(&store, &unknown).expect_err("unknown run");
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.to_string().contains(&"0".repeat(32)), "{e}");
}
