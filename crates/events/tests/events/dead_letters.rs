//! Dead letters: a message its consumer rejects leaves the outbox for the dead-letter table,
//! where it is listed and found, and from where a replay delivers it once more or a discard
//! drops it.

use tracemart_events::{DeadLetters, Outcome, Relay, Selection};

use crate::helpers::{DESTINATION, Recorder, TOPIC, TestStore, on_each_engine, publish, settings};

on_each_engine! {
    async fn a_rejected_message_is_dead_lettered_and_a_replay_delivers_it_once(engine: Engine) {
        let store = TestStore::open(engine).await;
        let outbox = store.outbox();
        publish(&outbox, &[(Some("k-1".to_owned()), 1), (None, 2)]).await;
        let rejecting = Recorder::new("relay", Outcome::Rejected);
        let relay = Relay::new(outbox.clone(), settings()).transport(DESTINATION, rejecting);
        let letters = DeadLetters::new(store.db.clone());

        let round = relay.relay_once(chrono::Utc::now()).await.unwrap();

        assert_eq!(round.dead_lettered, 2, "{round:?}");
        let listed = letters.list(10).await.unwrap();
        assert_eq!(listed.len(), 2, "{listed:?}");
        let keyed = listed.iter().find(|l| l.key.as_deref() == Some("k-1")).unwrap();
        assert_eq!((keyed.topic.as_str(), keyed.destination.as_str()), (TOPIC, DESTINATION));
        assert_eq!(keyed.attempts, 1);
        assert_eq!(keyed.last_error, "the consumer refused it");
        assert_eq!(keyed.payload.get(), r#"{"n":1}"#);
        assert_eq!(letters.find(&keyed.id).await.unwrap().len(), 1);
        assert_eq!(store.count("SELECT COUNT(*) FROM event_outbox").await, 0);

        assert_eq!(letters.replay(Selection::Id(&keyed.id)).await.unwrap(), 1);
        let accepting = Recorder::new("relay", Outcome::Processed);
        let relay = Relay::new(outbox, settings()).transport(DESTINATION, accepting.clone());
        let round = relay.relay_once(chrono::Utc::now()).await.unwrap();

        assert_eq!(round.delivered, 1, "{round:?}");
        let delivered = accepting.delivered();
        assert_eq!(delivered.len(), 1);
        assert_eq!(delivered[0].id, keyed.id);
        let left = letters.list(10).await.unwrap();
        assert_eq!(left.len(), 1, "the other one stays: {left:?}");
        assert_eq!(letters.discard(Selection::All).await.unwrap(), 1);
        assert!(letters.list(10).await.unwrap().is_empty());
    }
}
