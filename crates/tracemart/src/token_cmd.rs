//! `tracemart token`: a user's or the operator's token, signed with its issuer's key.

use std::time::Duration;

use tracemart_platform::ServiceName;
use tracemart_platform::identity::{Principal, ensure_keys, issue};

use crate::cli::{TokenArgs, TokenSubject};
use crate::settings;

pub(crate) fn run(args: &TokenArgs) -> u8 {
    let config = match settings::resolve(&args.data.shop()) {
        Ok(c) => c,
        Err(e) => return settings::config_failure(&e),
    };
    let (issuer, subject) = match (args.subject, args.user_id) {
        (TokenSubject::Admin, _) => (Principal::Admin, "admin".to_owned()),
        (TokenSubject::User, Some(id)) if id > 0 => {
            (Principal::Service(ServiceName::User), format!("user:{id}"))
        }
        (TokenSubject::User, _) => {
            eprintln!("error: --user-id must be a positive integer");
            return 2;
        }
    };
    let dir = config.keys_dir();
    // The same keys `up` makes: created here if the shop has not run yet.
    let token = ensure_keys(&dir)
        .and_then(|()| issue(&dir, issuer, &subject, Duration::from_secs(args.ttl)));
    match token {
        Ok(token) => {
            println!("{token}");
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}
