//! Panics inside a world are findings, not crashes of the simulator: a
//! hook keeps the message (with its location) for the report instead of
//! printing it, while a world runs on this thread.

use std::cell::{Cell, RefCell};
use std::panic;
use std::sync::Once;

thread_local! {
    static IN_WORLD: Cell<bool> = const { Cell::new(false) };
    static MESSAGE: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Installs the hook once per process.
pub fn install_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if IN_WORLD.with(Cell::get) {
                let location = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                let payload = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "panic".into());
                MESSAGE.with(|message| *message.borrow_mut() = format!("{payload}{location}"));
            } else {
                default(info);
            }
        }));
    });
}

/// Marks this thread as running worlds (or not).
pub fn set_in_world(in_world: bool) {
    IN_WORLD.with(|flag| flag.set(in_world));
}

/// The last panic message caught on this thread.
pub fn take_message() -> String {
    MESSAGE.with(|message| std::mem::take(&mut *message.borrow_mut()))
}
