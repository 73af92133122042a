//! A TCP proxy in front of the emulator that can hold one kind of request: a test points a
//! process at it, waits until the process sends that request (say, the processor's read of a DMS
//! file, mid-refresh) and kills it there — a crash at a chosen step, without relying on timing.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

/// The proxy; it forwards every connection to the emulator until [`HoldingProxy::hold`] names a
/// request to hold.
#[derive(Debug, Clone)]
pub struct HoldingProxy {
    /// `http://127.0.0.1:<port>`: the endpoint to give the process under test.
    pub url: String,
    state: Arc<(Mutex<HoldState>, Condvar)>,
}

#[derive(Debug, Default)]
struct HoldState {
    /// A request whose first bytes contain every one of these strings is held.
    markers: Vec<String>,
    /// Requests held so far.
    held: usize,
}

impl HoldingProxy {
    /// Starts a proxy to `upstream` (`http://host:port`) on a free loopback port.
    pub fn start(upstream: &str) -> HoldingProxy {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let url = format!(
            "http://{}",
            listener.local_addr().expect("the proxy's address")
        );
        let proxy = HoldingProxy {
            url,
            state: Arc::new((Mutex::new(HoldState::default()), Condvar::new())),
        };
        let state = Arc::clone(&proxy.state);
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let upstream = upstream.clone();
                let state = Arc::clone(&state);
                thread::spawn(move || forward(client, &upstream, &state));
            }
        });
        proxy
    }

    /// From now on, holds every request whose head contains all of `markers` (e.g. `GET ` and
    /// an object key): it is never forwarded and never answered.
    pub fn hold(&self, markers: &[&str]) {
        let (lock, _) = &*self.state;
        lock.lock().expect("proxy state").markers =
            markers.iter().map(|m| (*m).to_owned()).collect();
    }

    /// Waits until a request is held; panics after `limit` (the process never sent it).
    pub fn wait_until_held(&self, limit: Duration) {
        let (lock, held) = &*self.state;
        let guard = lock.lock().expect("proxy state");
        let (guard, timeout) = held
            .wait_timeout_while(guard, limit, |state| state.held == 0)
            .expect("proxy state");
        assert!(
            !timeout.timed_out() && guard.held > 0,
            "no request matching {:?} reached the proxy within {limit:?}",
            guard.markers
        );
    }
}

/// Copies one client connection to the emulator and back, holding a matching request.
fn forward(mut client: TcpStream, upstream: &str, state: &(Mutex<HoldState>, Condvar)) {
    let Ok(mut server) = TcpStream::connect(upstream) else {
        return;
    };
    let (Ok(mut client_reader), Ok(mut server_writer)) = (client.try_clone(), server.try_clone())
    else {
        return;
    };
    thread::spawn(move || {
        let _ = std::io::copy(&mut server, &mut client);
        let _ = client.shutdown(Shutdown::Write);
    });
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = match client_reader.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        let chunk = buffer.get(..read).unwrap_or_default();
        if holds(chunk, state) {
            // Held: swallow whatever else the client sends until it goes away (is killed).
            while matches!(client_reader.read(&mut buffer), Ok(n) if n > 0) {}
            break;
        }
        if server_writer.write_all(chunk).is_err() {
            break;
        }
    }
    let _ = server_writer.shutdown(Shutdown::Write);
}

/// Whether `chunk` starts a request to hold; counts it and wakes the waiting test if so.
fn holds(chunk: &[u8], state: &(Mutex<HoldState>, Condvar)) -> bool {
    let (lock, held) = state;
    let mut state = lock.lock().expect("proxy state");
    let text = String::from_utf8_lossy(chunk);
    if state.markers.is_empty() || !state.markers.iter().all(|m| text.contains(m.as_str())) {
        return false;
    }
    state.held += 1;
    held.notify_all();
    true
}
