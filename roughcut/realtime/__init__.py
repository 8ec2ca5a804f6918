"""The Socket.IO edge: one AsyncServer, authenticated namespaces, the ack envelope, the publisher."""
