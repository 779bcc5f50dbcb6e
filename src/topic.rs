//! The one subscription mechanism for events: a [`Topic`] has a single [`Publisher`] (held by
//! the part that owns the fact) and any number of subscribers, called in order, synchronously,
//! inside `publish`, so a subscriber has acted before the publisher goes on (a config change
//! is applied before the reload answers; sessions are told before children stop).
//!
//! Facts that are read rather than followed (listen addresses, child status, TLS and mDNS
//! state) are `tokio::sync::watch` channels instead, written by their owner alone.

use std::sync::Arc;

use parking_lot::Mutex;

type Callback<E> = Arc<dyn Fn(&E) + Send + Sync>;

struct Inner<E> {
    next: u64,
    subscribers: Vec<(u64, Callback<E>)>,
}

/// The subscribing side of a topic: cheap to clone and hand to whoever listens.
pub struct Topic<E>(Arc<Mutex<Inner<E>>>);

impl<E> Clone for Topic<E> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

/// The one publishing side; not `Clone`, so the type says who publishes.
pub struct Publisher<E>(Arc<Mutex<Inner<E>>>);

/// A new topic: its publisher and its subscribing handle.
pub fn topic<E>() -> (Publisher<E>, Topic<E>) {
    let inner = Arc::new(Mutex::new(Inner { next: 0, subscribers: Vec::new() }));
    (Publisher(inner.clone()), Topic(inner))
}

impl<E> Topic<E> {
    /// Calls `f` on every event from now on, until the returned subscription is dropped
    /// (or forever, after [`Subscription::forever`]).
    #[must_use = "dropping the subscription ends it; call .forever() to keep it"]
    pub fn subscribe(&self, f: impl Fn(&E) + Send + Sync + 'static) -> Subscription
    where
        E: 'static,
    {
        let mut inner = self.0.lock();
        let id = inner.next;
        inner.next += 1;
        inner.subscribers.push((id, Arc::new(f)));
        let weak = Arc::downgrade(&self.0);
        Subscription(Some(Box::new(move || {
            if let Some(inner) = weak.upgrade() {
                inner.lock().subscribers.retain(|(i, _)| *i != id);
            }
        })))
    }
}

impl<E> Publisher<E> {
    /// Calls every subscriber with `event`, in subscription order. Subscribers may subscribe
    /// or unsubscribe meanwhile (they are called outside the topic's lock).
    pub fn publish(&self, event: &E) {
        let subscribers: Vec<Callback<E>> = self.0.lock().subscribers.iter().map(|(_, f)| f.clone()).collect();
        for f in subscribers {
            f(event);
        }
    }
}

/// A live subscription; dropping it unsubscribes.
pub struct Subscription(Option<Box<dyn FnOnce() + Send + Sync>>);

impl Subscription {
    /// Keeps the subscription for the topic's whole life.
    pub fn forever(mut self) {
        self.0 = None;
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(end) = self.0.take() {
            end();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn subscribers_hear_events_in_order_until_they_drop_their_subscription() {
        let (publisher, topic) = topic::<usize>();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (a, b) = (seen.clone(), seen.clone());
        let first = topic.subscribe(move |e| a.lock().push(("first", *e)));
        topic.subscribe(move |e| b.lock().push(("second", *e))).forever();
        publisher.publish(&1);
        drop(first);
        publisher.publish(&2);
        assert_eq!(*seen.lock(), [("first", 1), ("second", 1), ("second", 2)]);
    }

    #[test]
    fn a_subscriber_may_subscribe_during_publish_and_hears_the_next_event() {
        let (publisher, topic) = topic::<()>();
        let calls = Arc::new(AtomicUsize::new(0));
        let (t, c) = (topic.clone(), calls.clone());
        topic
            .subscribe(move |_| {
                let c = c.clone();
                t.subscribe(move |_| {
                    c.fetch_add(1, Ordering::SeqCst);
                })
                .forever();
            })
            .forever();
        publisher.publish(&());
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        publisher.publish(&());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_subscription_outliving_its_topic_drops_quietly() {
        let (publisher, topic) = topic::<()>();
        let sub = topic.subscribe(|_| {});
        drop((publisher, topic));
        drop(sub);
    }
}
