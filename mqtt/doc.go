// Package mqtt serves MQTT 3.1.1 clients on top of Wisp's subjects and
// stream layer, as nats-server does: a device's topic becomes a subject
// (topic.go), so MQTT and NATS clients exchange messages, and the state
// MQTT promises to keep (sessions, QoS 1 messages waiting for a
// subscriber, retained messages) lives in streams, so it survives a
// restart.
//
// The package holds the packet codec (packet.go, decode.go, encode.go: no
// allocation per packet once a connection's buffers are warm), the
// listener and one connection per client (service.go, conn.go), and the
// session logic (session.go, publish.go, retained.go, qos2.go, store.go).
//
// It never imports the server or the stream layer. It reaches them
// through the small interfaces in host.go: a Broker to publish and
// subscribe in one account, and a Host to check credentials and to list
// its clients in monitoring. The stream layer is used only through the
// JetStream API subjects, as any client would (jsapi.go), so the MQTT
// layer works wherever that API answers. cmd/wisp wires the two.
//
// Streams used, in each account that MQTT clients log into:
//
//	$MQTT_sess   $MQTT.sess.<client hash>  one record per persistent session
//	$MQTT_msgs   $MQTT.msgs.<subject>      QoS 1 and 2 messages, interest retention
//	$MQTT_rmsgs  $MQTT.rmsgs.<subject>     the retained message of each topic
//	$MQTT_qos2in $MQTT.qos2.in.<hash>.<id> QoS 2 messages waiting for PUBREL
//
// A QoS 1 subscription is a durable push consumer on $MQTT_msgs whose
// deliver subject only this session listens on; a PUBACK acknowledges the
// stream message, and ack_wait redelivers what was not acknowledged.
package mqtt
