"""Network services around the runtime: MQTT publishing and the many-device gateway."""
