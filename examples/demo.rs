//! A demo training loop: logs a simulated training run into `./runlog.db` (or `$RUNLOG_STORE`) and prints what it
//! logged, read back from the file.

use runlog::{Store, Value};

fn main() -> runlog::Result<()> {
    let store = Store::open_default()?;
    let run = store.start_named_run("demo", "sgd-lr0.1")?;
    run.log_param("lr", 0.1)?;
    run.log_param("epochs", 5)?;
    run.set_tag("model", "mlp-2x64")?;
    run.describe("loss", "training loss, mean over the batch")?;
    let steps_per_epoch = 2_000;
    let mut loss = 2.5f64;
    for epoch in 0..5 {
        for step in 0..steps_per_epoch {
            let noise = ((epoch * steps_per_epoch + step) as f64 * 0.37).sin() * 0.02;
            loss = loss * 0.9995 + noise.abs() * 0.01;
            run.log("loss", loss + noise)?;
            run.log("lr", 0.1 * 0.999f64.powi(step))?;
        }
        let acc = 1.0 - loss / 3.0;
        run.log("val/accuracy", acc)?;
        run.log_row(
            "epoch_summary",
            [("epoch", Value::from(epoch)), ("loss", Value::from(loss)), ("acc", Value::from(acc))],
        )?;
        let child = run.child(&format!("eval-epoch-{epoch}"))?;
        child.log("accuracy", acc)?;
        child.complete()?;
    }
    run.log_table(
        "confusion",
        [("label", vec![Value::from("cat"), Value::from("dog")]), ("correct", vec![Value::from(91), Value::from(88)])],
    )?;
    // The same as a chart in Azure ML's confusion-matrix schema, which the web UI draws as a heat map.
    run.log_chart(
        "confusion_matrix",
        Some(runlog::ChartType::ConfusionMatrix),
        r#"{"schema_type": "confusion_matrix", "schema_version": "1.0.0",
            "data": {"class_labels": ["cat", "dog"], "matrix": [[91, 9], [12, 88]]}}"#,
    )?;
    run.log_text("notes", "demo run: a synthetic loss curve")?;
    run.complete()?;

    let reader = store.reader();
    let info = reader.run(run.id())?;
    println!("store    {}", store.path().display());
    println!("run      {} ({}/{}) {}", info.id, info.experiment, info.name, info.status);
    println!("params   {}", info.params.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" "));
    println!("tags     {}", info.tags.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" "));
    println!("{:<16} {:>8} {:>12} {:>12} {:>12}", "metric", "count", "last", "min", "max");
    for m in reader.summary(run.id())? {
        let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.5}"));
        println!("{:<16} {:>8} {:>12.5} {:>12} {:>12}", m.name, m.count, m.last, f(m.min), f(m.max));
    }
    for row in reader.rows(run.id(), "epoch_summary")? {
        let cols: Vec<String> = row.value.columns.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("row      epoch_summary[{}] {}", row.step.unwrap_or(0), cols.join(" "));
    }
    println!("children {}", reader.children(run.id())?.len());
    Ok(())
}
