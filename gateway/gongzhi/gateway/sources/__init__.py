"""Outside sources: devices that do not speak our MQTT contract, brought into the one pipeline.

``GONGZHI_SOURCES`` names a YAML file of sources (``config``); without it the gateway runs as it
always did and none of this package is imported. Each source has an ``id``, a ``kind`` and the
kind's ``options`` (secrets as the config kit's ``Secret``: ``{file: PATH}`` or ``{env: NAME}``).
docs/devices.md shows complete files.

How a message travels (the same guarantees as our own contract):

1. The source's transport (an MQTT client from ``gateway.mqtt``, an HTTP server, a poller) takes
   an outside message and puts it, untouched, on the gateway's ingest queue:
   ``context.put(topic, payload, mid=..., qos=..., generation=...)`` makes a
   ``RawMessage(..., source=<id>)``. ``topic`` is whatever names the message in its world (the
   MQTT topic, ``ctwing/dataReport``, ``modbus:<host>:<port>/<unit>``...): dead letters show it.
   ``put`` blocks while the queue is full (flow control); it is the only work a transport
   thread does per message.
2. The ingest worker calls ``Source.translate(raw, registry)`` (``decoding.SourceDecoder``):
   the source finds the device by ``registry.by_external_id(...)`` and returns messages of our
   contract built with ``base.native_telemetry`` / ``native_event`` / ``native_status``. Each is
   then decoded and validated exactly as a device's own (catalogue metrics, physical ranges,
   timestamps, event names), deduplicated, stored, run through detection and, for alarms, put
   in the outbox. A message that cannot be used raises ``RejectedMessage(reason, detail)``: a
   dead letter with the outside topic and payload. Reasons (``gateway.reasons.Reason``):
   ``unknown_device`` (detail names the outside id), ``unmapped_field``, ``no_match`` (detail
   names the JSONPath), ``bad_value``, ``bad_shape``, ``not_json``, ... A part of a message that
   fails validation while others pass is a dead letter of its own; the others are kept.
   ``translate`` returns ``[]`` for a message with nothing to keep (count it:
   ``context.counters.duplicate()`` / ``.ignored(what)``).
3. Once the batch is committed (telemetry stored, dead letters and alarms durable),
   ``Source.ack(messages)`` is called with that source's messages of the batch, in arrival
   order: acknowledge the outside system only now (PUBACK, the HTTP answer, ...). A message
   never acknowledged (the process died) must be delivered again by the outside system or by
   the source from its own durable state.

A kind is a module of this package defining ``KIND = SourceKind(name, OptionsModel, build)``
and one line in ``kinds.KIND_MODULES``. ``OptionsModel`` is a pydantic model with
``model_config = STRICT_CONFIG`` (the config kit): its errors name the file and line.
``build(context: SourceContext, options) -> Source`` does no I/O; ``start()`` connects (own
threads, returns at once), ``close()`` stops. ``health()`` says ``SourceHealth(up, reason)``:
``/readyz`` names the sources that are down; ``stale_after`` in the file also counts a silent
source as down. Per-source figures (``metrics``): received, accepted, rejected by reason,
duplicates, ignored, up, last message age.

Kinds: ``chirpstack`` (LoRaWAN, ChirpStack v3/v4 over MQTT), ``mqtt_json`` (any JSON over MQTT,
mapped by JSONPath: ``jsonmap``), ``ctwing`` and ``onenet`` (carrier platforms' HTTP push),
``modbus`` (polling). Shared parts: ``mapping`` (decoded fields to catalogue metrics and events:
JSONPath, units, value maps), ``mqtt_transport`` (``MqttOptions`` and ``MqttSource``: a
subscription on any broker through ``gateway.mqtt``, the one paho module, with the lifecycle,
acknowledgement and health every MQTT kind has; such a kind adds ``translate``). The heavy
receiving runs in helper processes tied to the gateway by a pipe (``piped_child``): each MQTT
source's subscriber (``mqtt_front``) and each push port's front end (``http_push_front``,
``http_push_process``), so that their work and the pipeline's are not serialised on one
interpreter lock.

A gateway with sources must own every estate (no partition): an outside message is not split by
estate before it is translated.
"""
