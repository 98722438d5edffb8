// Package notify tells people when something goes wrong: the events
// (task_failed, queue_site_failing, certificate_expiring and disk_low),
// the subscriptions that want them, and their delivery by webhook or
// email.
//
// # From event to delivery
//
//	dispatcher ─ TaskFailed ─┐                      leader only
//	queue pass ─ SiteFailing ┤
//	  CertificateExpiring,   ├─► outbox (store:  ─► Notifier.Run: match,
//	  DiskLow                │   notify/events/)    digest, send, retry,
//	aegir notify test ───────┘                      log, then delete
//
// Whoever sees an event writes it to the store's outbox through the
// Emitter (the dispatcher and the queues only know their own small
// interfaces, dispatch.TaskEvents and queue.SiteEvents). The process that
// holds the dispatcher's leadership runs the Notifier beside the
// dispatcher (internal/app lead): it watches the outbox, matches each
// event with the subscriptions that want it and whose owner may see it,
// sends, records each delivery in the subscription's log
// (notify/deliveries/<subscription>/), and removes the event once every
// delivery of it ended. An event no one wants is removed at once.
//
// Delivery is at least once: when leadership moves (or the process stops)
// during a delivery, nothing is recorded, the event stays in the outbox,
// and the next leader sends it again, under a new delivery id.
//
// # Who hears of what
//
// A subscription belongs to one user and sees what they may see: a
// client user's only their clients' events (and, when it names a client,
// only that one's); events of no client (a server's disk) reach admins
// only. The owner is read again for every event, so a user removed from a
// client stops hearing of it at once. Matches is that rule.
//
// # A digest instead of a flood
//
// Each subscription gets at most DigestThreshold messages one by one in a
// DigestWindow; the events after that are held until the window ends and
// go as one message listing them all (webhook kind "digest"). Test
// notifications count like any other, so asking for tests in a loop
// cannot make aegir flood an address.
//
// # Webhooks
//
// A POST of a Payload (JSON) with the headers X-Aegir-Delivery (the same
// on retries), X-Aegir-Event, X-Aegir-Timestamp and X-Aegir-Signature:
// "sha256=" and the hex HMAC-SHA256, under the subscription's secret, of
// the timestamp, a dot and the body (Sign, Verify). The secret is made
// when the subscription is, shown once, and kept in the secrets backend
// (secrets.WebhookSecretRef); it is never logged or shown again. A
// transport error, 408, 429 or 5xx is retried with exponential backoff
// (RetryBase doubling up to RetryMax, MaxAttempts in all); other answers
// are final. Redirects are not followed. Unless AllowPrivate, the dialler
// refuses loopback, private, link-local and CGNAT addresses, checked on
// the address actually dialled so DNS cannot dodge it. Errors in the log
// never carry the URL, in which some receivers keep a key.
//
// # Email
//
// Plain text through the configured SMTP server (Mail), always upgraded
// with STARTTLS and the certificate verified; a server without STARTTLS
// gets nothing. A 5xx reply is final, a 4xx or a broken connection is
// retried like a webhook.
//
// # Secrets in events
//
// Events carry a task's explanation and hint, which the back end has
// already redacted (provision.Redactor), and never a task's arguments. A
// subscription whose owner is not an admin gets them with server paths
// and addresses hidden (domain.ClientRedactor), as the API shows a task's
// words to client users.
package notify
