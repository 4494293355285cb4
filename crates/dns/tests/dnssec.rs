//! DNSSEC validation against a real signed zone: Knot DNS on loopback
//! signs a private root; its key is the only trust anchor.

use std::time::Duration;

use caravel_dns::dnssec::{Secure, Validating};
use caravel_dns::test_server::{Knot, ReservedPort};

#[tokio::test]
async fn signed_tlsa_and_mx_records_are_secure_and_missing_ones_are_not() {
    let port = ReservedPort::new();
    let addr = port.addr();
    let knot = Knot::start(
        port,
        &[
            "buyer.test. 300 IN MX 10 mx.buyer.test.".to_string(),
            "mx.buyer.test. 300 IN A 127.0.0.1".to_string(),
            "_25._tcp.mx.buyer.test. 300 IN TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                .to_string(),
        ],
    );
    let anchor = knot.anchor();
    let v = Validating::new(&[addr], Duration::from_secs(2), Some(&anchor)).expect("resolver");
    match v.tlsa("mx.buyer.test", 25).await.expect("lookup") {
        Secure::Yes(t) => {
            assert_eq!(t.len(), 1);
            assert_eq!((t[0].usage, t[0].selector, t[0].matching), (3, 1, 1));
            assert_eq!(t[0].data[0], 0x01);
        }
        Secure::No => panic!("the TLSA record is signed"),
    }
    assert!(v.mx_is_secure("buyer.test").await.expect("mx"));
    assert_eq!(v.tlsa("other.buyer.test", 25).await.expect("lookup"), Secure::No);
    // With another anchor the same answers are not believed.
    let wrong = ". 300 IN DNSKEY 257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ==";
    let v = Validating::new(&[addr], Duration::from_secs(2), Some(wrong)).expect("resolver");
    assert!(!matches!(v.tlsa("mx.buyer.test", 25).await, Ok(Secure::Yes(_))));
}
