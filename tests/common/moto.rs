//! A real `moto_server` (PyPI `moto[server]`, an S3-compatible server) on a
//! free loopback port, with one empty bucket, for the tests of a store on
//! object storage.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::TEST_KEY;

pub const BUCKET: &str = "vigil";

pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// Starts moto_server with an empty bucket, or `None` (test skipped)
    /// when it is not installed and VIGIL_REQUIRE_S3 is not set.
    pub fn start() -> Option<Moto> {
        let present = Command::new("moto_server")
            .arg("--help")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !present {
            assert!(
                std::env::var("VIGIL_REQUIRE_S3").is_err(),
                "moto_server is required (pip install 'moto[server]')"
            );
            eprintln!("SKIPPED: moto_server not found (pip install 'moto[server]')");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "moto_server did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // Create the bucket (moto takes unsigned requests).
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            s,
            "PUT /{BUCKET} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).unwrap();
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
        Some(moto)
    }

    pub fn settings(&self) -> Vec<(&str, &str)> {
        vec![
            ("aws_endpoint", self.endpoint.as_str()),
            ("aws_access_key_id", "testing"),
            ("aws_secret_access_key", "testing"),
            ("aws_region", "us-east-1"),
            ("aws_allow_http", "true"),
        ]
    }

    /// The real binary, pointed at this server, with its cache in `cache`.
    pub fn vigil(&self, cache: &Path) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_vigil"));
        c.env("VIGIL_HMAC_KEY", std::str::from_utf8(TEST_KEY).unwrap())
            .env_remove("VIGIL_FAILPOINT")
            .env_remove("VIGIL_STORE")
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ALLOW_HTTP", "true")
            .env("VIGIL_CACHE", cache);
        c
    }
}
