#pragma once

// Kafka header names of internal records (ARCHITECTURE.md, "Data on the
// wire"). Routing facts travel here so no stage re-parses a payload to route.
namespace evs::hdr {

inline constexpr char kId[] = "evs-id";            // event id, stable across replays
inline constexpr char kRoute[] = "evs-route";      // route name
inline constexpr char kModel[] = "evs-model";      // model name, or name@version
inline constexpr char kVariant[] = "evs-variant";  // variant name
inline constexpr char kShadow[] = "evs-shadow";    // "true" on shadow copies
inline constexpr char kSrc[] = "evs-src";          // source topic/partition/offset
inline constexpr char kTs[] = "evs-ts";            // ingest time, ms since epoch
inline constexpr char kConfig[] = "evs-config";    // config version that routed it
inline constexpr char kModelVersion[] = "evs-model-version";
inline constexpr char kModelDigest[] = "evs-model-digest";
// Dead-letter headers.
inline constexpr char kErrorStage[] = "evs-error-stage";
inline constexpr char kErrorCode[] = "evs-error-code";
inline constexpr char kErrorMessage[] = "evs-error-message";
inline constexpr char kErrorModule[] = "evs-error-module";
inline constexpr char kErrorTopic[] = "evs-error-topic";
inline constexpr char kErrorPartition[] = "evs-error-partition";
inline constexpr char kErrorOffset[] = "evs-error-offset";

}  // namespace evs::hdr
