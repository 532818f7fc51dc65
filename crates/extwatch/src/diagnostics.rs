//! `--verbose`: core's diagnostics ([`extwatch_core::Diagnostic`]) reach stderr as `tracing`
//! events through a `tracing-subscriber` fmt layer, one line each, byte for byte what the CLI has
//! always printed: `extwatch: warning: MESSAGE`. The event's `area` and `path` fields are for other
//! subscribers (a long-running agent routes by them); this line shows only the message, as before.

use std::fmt::{self, Write as _};

use extwatch_core::DIAGNOSTIC_TARGET;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::registry::{LookupSpan, Registry};

/// Formats a diagnostic event as the CLI's warning line.
struct WarningLine;

impl<S, N> FormatEvent<S, N> for WarningLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut message = Message(String::new());
        event.record(&mut message);
        writeln!(w, "extwatch: warning: {}", message.0)
    }
}

/// The event's `message` field, as written (the other fields are not part of the line).
struct Message(String);

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // The message of `warn!("{}", m)` is `format_args!`, whose Debug is its Display.
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        }
    }
}

/// The layer that writes diagnostic events (and nothing else) to `out`. The target is compared
/// whole: a target filter matches prefixes, and `extwatch::diagnostics::…` starts with it.
fn layer<W>(out: W) -> impl Layer<Registry>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .event_format(WarningLine)
        .with_writer(out)
        .with_filter(filter_fn(|m| {
            m.target() == DIAGNOSTIC_TARGET && *m.level() <= tracing::Level::WARN
        }))
}

/// Prints diagnostic events on stderr from now on. Only the process's first call installs the
/// subscriber (one audit per process today); a later call leaves it as it is.
pub fn print_to_stderr() {
    let subscriber = tracing_subscriber::registry().with(layer(std::io::stderr));
    let _ = tracing::subscriber::set_global_default(subscriber);
}

#[cfg(test)]
mod tests {
    use super::*;
    use extwatch_core::{Area, Diagnostic};
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Captured {
        type Writer = Captured;
        fn make_writer(&'w self) -> Captured {
            self.clone()
        }
    }

    /// The lines are exactly what `eprintln!("extwatch: warning: {d}")` printed, with or without
    /// a path, whatever the message holds; events of other targets are not printed.
    #[test]
    fn diagnostics_print_as_the_warning_lines_they_always_were() {
        let out = Captured::default();
        let subscriber = tracing_subscriber::registry().with(layer(out.clone()));
        let ds = [
            Diagnostic::new(
                Area::MountTable,
                Some("/proc/self/mountinfo".into()),
                "/proc/self/mountinfo: line 3: not a mount entry".into(),
            ),
            Diagnostic::new(Area::OsRelease, None, "no os-release: {braces} 100%".into()),
            Diagnostic::new(
                Area::Discovery,
                Some("/var/lib/extensions".into()),
                "odd bytes \u{1b}[31m\ttab \"quoted\" \\ end".into(),
            ),
        ];
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!("not a diagnostic");
            tracing::warn!(target: "other", "nor this");
            tracing::warn!(target: "extwatch::diagnostics", "nor one whose target it prefixes");
            tracing::info!(target: DIAGNOSTIC_TARGET, "nor one below WARN");
            for d in &ds {
                d.emit();
            }
        });
        let want: String = ds
            .iter()
            .map(|d| format!("extwatch: warning: {d}\n"))
            .collect();
        let got = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(got, want);
    }
}
