import * as protobuf from 'protobufjs';

/**
 * The part of TensorFlow's `event.proto` and `summary.proto` that scalar logging uses, with
 * TensorFlow's field numbers (tensorflow/core/util/event.proto, tensorflow/core/framework/summary.proto).
 * Kept as text rather than a `.proto` file so that the esbuild bundle needs no file beside it.
 */
export const EVENT_PROTO = `
syntax = "proto3";
package tensorboard;

message Event {
  double wall_time = 1;
  int64 step = 2;
  oneof what {
    string file_version = 3;
    Summary summary = 5;
  }
}

message Summary {
  message Value {
    string tag = 1;
    oneof value {
      float simple_value = 2;
    }
  }
  repeated Value value = 1;
}
`;

/** The `file_version` of the first record of every events file TensorBoard reads. */
export const FILE_VERSION = 'brain.Event:2';

/** The `tensorboard.Event` message type, built once from {@link EVENT_PROTO}. */
export const EventType: protobuf.Type = protobuf.parse(EVENT_PROTO, { keepCase: true }).root.lookupType('tensorboard.Event');
