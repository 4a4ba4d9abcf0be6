package stream

import (
	"fmt"
	"strings"
)

// APIError is the error object of every JetStream API reply and PubAck:
// {"code": <http-like>, "err_code": <number>, "description": "..."}.
type APIError struct {
	Code        int    `json:"code"`
	ErrCode     uint16 `json:"err_code"`
	Description string `json:"description,omitempty"`
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s (%d/%d)", e.Description, e.Code, e.ErrCode)
}

// errKind names one row of the error table.
type errKind int

// The error table: every API error Wisp sends comes from one row here, so
// codes match nats-server's (clients switch on err_code) and the words live
// in one place. A description with "{x}" takes a detail (see apiErr).
const (
	errBadRequest errKind = iota
	errInvalidJSON
	errNotEmptyRequest
	errStreamNotFound
	errStreamNameExist
	errStreamMismatch
	errStreamSubjectOverlap
	errStreamInvalidConfig
	errStreamUnsupported
	errStreamCreate
	errStreamUpdate
	errStreamDelete
	errStreamPurge
	errStreamStoreFailed
	errStreamReplicasNotSupported
	errStreamReplicasNotUpdatable
	errConsumerReplicasExceedsStream
	errClusterNoPeers
	errClusterNoPeersAccount
	errClusterNotAvail
	errClusterNotLeader
	errClusterRequired
	errClusterPeerNotMember
	errPeerRemap
	errStreamNameInvalid
	errNoMessageFound
	errMsgDeleteFailed
	errMsgTooBig
	errHeaderTooBig
	errExpectedStream
	errWrongLastSeq
	errWrongLastMsgID
	errStreamSealed
	errStreamRollupFailed
	errMaxStreams
	errGeneral
	errStreamOffline

	// Consumers (consumer*.go).
	errConsumerNotFound
	errConsumerNameExist
	errConsumerCreate
	errConsumerUnsupported
	errConsumerExists
	errConsumerDoesNotExist
	errConsumerInvalidPolicy
	errConsumerDurableNameNotInSubject
	errConsumerDurableNameNotMatch
	errConsumerEphemeralWithDurableInSubject
	errConsumerEphemeralWithDurableName
	errConsumerDeliverToWildcards
	errConsumerPushMaxWaiting
	errConsumerDeliverCycle
	errConsumerMaxPendingAckPolicy
	errConsumerSmallHeartbeat
	errConsumerMaxWaitingNegative
	errConsumerHBRequiresPush
	errConsumerFCRequiresPush
	errConsumerFilterNotSubset
	errConsumerWQRequiresExplicitAck
	errConsumerWQMultipleUnfiltered
	errConsumerWQNotUnique
	errConsumerNameTooLong
	errConsumerBadDurableName
	errConsumerStoreFailed
	errConsumerDescriptionTooLong
	errConsumerFCNeedsHeartbeats
	errConsumerInvalidDeliverSubject
	errConsumerMaxDeliverBackoff
	errConsumerNameInvalid
	errConsumerFilterMismatch
	errConsumerDurableAndNameMismatch
	errConsumerDuplicateFilters
	errConsumerMultipleFiltersNotAllowed
	errConsumerOverlappingFilters
	errConsumerEmptyFilter
	errConsumerAckWaitNegative
	errConsumerBackOffNegative
	errConsumerPullWithRateLimit
	errConsumerInvalidReset
	errConsumerMaxAckPendingExcess
	errConsumerInactiveThresholdExcess
	errMaxConsumers
	errConsumerInvalidSampling

	// Snapshots and restores (snapshot.go, restore.go).
	errSnapshotDeliverSubject
	errStreamSnapshot
	errStreamRestore
	errStreamNameExistRestore
	errRestoreSubscribe

	// Resources (quota.go).
	errInsufficientResources
	errAccountResourcesExceeded
	errStorageResourcesExceeded
	errMemoryResourcesExceeded

	// Moving and shaping data (transform.go, mirror.go, source.go).
	errStreamTransformSource
	errStreamTransformDest
	errMirrorWithSubjects
	errMirrorWithSources
	errMirrorWithStartSeqAndTime
	errMirrorWithSubjectFilters
	errMirrorWithFirstSeq
	errMirrorNotUpdatable
	errMirrorInvalidStreamName
	errMirrorInvalidSubjectFilter
	errMirrorInvalidTransformDest
	errMirrorOverlappingFilters
	errMirrorMultipleFilters
	errSourceDuplicate
	errSourceInvalidStreamName
	errSourceInvalidSubjectFilter
	errSourceInvalidTransformDest
	errSourceOverlappingFilters
	errSourceMultipleFilters
	errExternalAPIOverlap
	errExternalDeliverWildcards
	errMirrorMaxMsgSize
	errSourceMaxMsgSize

	// Atomic batches (batch.go) and counters (counter.go).
	errAtomicDisabled
	errAtomicMissingSeq
	errAtomicIncomplete
	errAtomicUnsupportedHeader
	errAtomicInvalidID
	errAtomicTooLarge
	errAtomicInvalidCommit
	errAtomicDuplicateMsg
	errAtomicTooManyInflight
	errMirrorWithAtomic
	errWrongLastSeqConstant
	errIncrDisabled
	errIncrMissing
	errIncrPayload
	errIncrInvalid
	errCounterBroken
	errMirrorWithCounters
	// Fast batch publish (fast_batch.go) and required API levels.
	errFastDisabled
	errFastInvalidPattern
	errFastInvalidID
	errFastUnknownID
	errMirrorWithFast
	errFastTooManyInflight
	errRequiredAPILevel
	// Priority groups (priority.go).
	errConsumerPolicyWithoutGroup
	errConsumerInvalidPriorityGroup
	errConsumerEmptyGroupName
	errConsumerInvalidGroupName
	errConsumerPushWithPriorityGroup
	errConsumerGroupsWithPolicyNone
	errConsumerPinnedTTLWithoutPolicy
)

var errTable = [...]APIError{
	errBadRequest:                    {400, 10003, "bad request"},
	errInvalidJSON:                   {400, 10025, "invalid JSON: {x}"},
	errNotEmptyRequest:               {400, 10038, "expected an empty request payload"},
	errStreamNotFound:                {404, 10059, "stream not found"},
	errStreamNameExist:               {400, 10058, "stream name already in use with a different configuration"},
	errStreamMismatch:                {400, 10056, "stream name in subject does not match request"},
	errStreamSubjectOverlap:          {400, 10065, "subjects overlap with an existing stream"},
	errStreamInvalidConfig:           {500, 10052, "{x}"},
	errStreamUnsupported:             {500, 10052, "stream configuration {x} is not supported"},
	errStreamCreate:                  {500, 10049, "{x}"},
	errStreamUpdate:                  {500, 10069, "{x}"},
	errStreamDelete:                  {500, 10050, "{x}"},
	errStreamPurge:                   {500, 10110, "{x}"},
	errStreamStoreFailed:             {503, 10077, "{x}"},
	errStreamReplicasNotSupported:    {500, 10074, "replicas > 1 not supported in non-clustered mode"},
	errStreamReplicasNotUpdatable:    {400, 10061, "Replicas configuration can not be updated"},
	errConsumerReplicasExceedsStream: {400, 10126, "consumer config replica count exceeds parent stream"},
	errClusterNoPeers:                {400, 10005, "no suitable peers for placement"},
	errClusterNoPeersAccount:         {400, 10005, "no suitable peers for placement, account not configured on enough servers"},
	errClusterNotAvail:               {503, 10008, "JetStream system temporarily unavailable"},
	errClusterNotLeader:              {500, 10009, "JetStream cluster can not handle request"},
	errClusterRequired:               {503, 10010, "JetStream clustering support required"},
	errClusterPeerNotMember:          {400, 10040, "peer not a member"},
	errPeerRemap:                     {503, 10075, "peer remap failed"},
	errStreamNameInvalid:             {400, 10128, "stream name can not contain path separators"},
	errNoMessageFound:                {404, 10037, "no message found"},
	errMsgDeleteFailed:               {500, 10057, "{x}"},
	errMsgTooBig:                     {400, 10054, "message size exceeds maximum allowed"},
	errHeaderTooBig:                  {400, 10097, "header size exceeds maximum allowed of 64k"},
	errExpectedStream:                {400, 10060, "expected stream does not match"},
	errWrongLastSeq:                  {400, 10071, "wrong last sequence: {x}"},
	errWrongLastMsgID:                {400, 10070, "wrong last msg ID: {x}"},
	errStreamSealed:                  {400, 10109, "invalid operation on sealed stream"},
	errStreamRollupFailed:            {500, 10111, "{x}"},
	errMaxStreams:                    {400, 10027, "maximum number of streams reached"},
	errGeneral:                       {500, 10051, "{x}"},
	errStreamOffline:                 {500, 10118, "stream is offline: {x}"},

	errConsumerNotFound:                      {404, 10014, "consumer not found"},
	errConsumerNameExist:                     {400, 10013, "consumer name already in use"},
	errConsumerCreate:                        {500, 10012, "{x}"},
	errConsumerUnsupported:                   {500, 10012, "consumer configuration {x} is not supported"},
	errConsumerExists:                        {400, 10148, "consumer already exists"},
	errConsumerDoesNotExist:                  {400, 10149, "consumer does not exist"},
	errConsumerInvalidPolicy:                 {400, 10094, "{x}"},
	errConsumerDurableNameNotInSubject:       {400, 10016, "consumer expected to be durable but no durable name set in subject"},
	errConsumerDurableNameNotMatch:           {400, 10017, "consumer name in subject does not match durable name in request"},
	errConsumerEphemeralWithDurableInSubject: {400, 10019, "consumer expected to be ephemeral but detected a durable name set in subject"},
	errConsumerEphemeralWithDurableName:      {400, 10020, "consumer expected to be ephemeral but a durable name was set in request"},
	errConsumerDeliverToWildcards:            {400, 10079, "consumer deliver subject has wildcards"},
	errConsumerPushMaxWaiting:                {400, 10080, "consumer in push mode can not set max waiting"},
	errConsumerDeliverCycle:                  {400, 10081, "consumer deliver subject forms a cycle"},
	errConsumerMaxPendingAckPolicy:           {400, 10082, "consumer requires ack policy for max ack pending"},
	errConsumerSmallHeartbeat:                {400, 10083, "consumer idle heartbeat needs to be >= 100ms"},
	errConsumerMaxWaitingNegative:            {400, 10087, "consumer max waiting needs to be positive"},
	errConsumerHBRequiresPush:                {400, 10088, "consumer idle heartbeat requires a push based consumer"},
	errConsumerFCRequiresPush:                {400, 10089, "consumer flow control requires a push based consumer"},
	errConsumerFilterNotSubset:               {400, 10093, "consumer filter subject is not a valid subset of the interest subjects"},
	errConsumerWQRequiresExplicitAck:         {400, 10098, "workqueue stream requires explicit ack"},
	errConsumerWQMultipleUnfiltered:          {400, 10099, "multiple non-filtered consumers not allowed on workqueue stream"},
	errConsumerWQNotUnique:                   {400, 10100, "filtered consumer not unique on workqueue stream"},
	errConsumerNameTooLong:                   {400, 10102, "consumer name is too long, maximum allowed is {x}"},
	errConsumerBadDurableName:                {400, 10103, "durable name can not contain '.', '*', '>'"},
	errConsumerStoreFailed:                   {500, 10104, "error creating store for consumer: {x}"},
	errConsumerDescriptionTooLong:            {400, 10107, "consumer description is too long, maximum allowed is {x}"},
	errConsumerFCNeedsHeartbeats:             {400, 10108, "consumer with flow control also needs heartbeats"},
	errConsumerInvalidDeliverSubject:         {400, 10112, "invalid push consumer deliver subject"},
	errConsumerMaxDeliverBackoff:             {400, 10116, "max deliver is required to be > length of backoff values"},
	errConsumerNameInvalid:                   {400, 10127, "Consumer name can not contain path separators"},
	errConsumerFilterMismatch:                {400, 10131, "Consumer create request did not match filtered subject from create subject"},
	errConsumerDurableAndNameMismatch:        {400, 10132, "Consumer Durable and Name have to be equal if both are provided"},
	errConsumerDuplicateFilters:              {400, 10136, "consumer cannot have both FilterSubject and FilterSubjects specified"},
	errConsumerMultipleFiltersNotAllowed:     {400, 10137, "consumer with multiple subject filters cannot use subject based API"},
	errConsumerOverlappingFilters:            {400, 10138, "consumer subject filters cannot overlap"},
	errConsumerEmptyFilter:                   {400, 10139, "consumer filter in FilterSubjects cannot be empty"},
	errConsumerAckWaitNegative:               {400, 10183, "consumer ack wait needs to be positive"},
	errConsumerBackOffNegative:               {400, 10184, "consumer backoff needs to be positive"},
	errConsumerPullWithRateLimit:             {400, 10086, "consumer in pull mode can not have rate limit set"},
	errConsumerInvalidReset:                  {400, 10204, "invalid reset: {x}"},
	errConsumerMaxAckPendingExcess:           {400, 10121, "consumer max ack pending exceeds system limit of {x}"},
	errConsumerInactiveThresholdExcess:       {400, 10153, "consumer inactive threshold exceeds system limit of {x}"},
	errMaxConsumers:                          {400, 10026, "maximum consumers limit reached"},
	errConsumerInvalidSampling:               {400, 10095, "failed to parse consumer sampling configuration: {x}"},

	errSnapshotDeliverSubject: {400, 10015, "deliver subject not valid"},
	errStreamSnapshot:         {500, 10064, "snapshot failed: {x}"},
	errStreamRestore:          {500, 10062, "restore failed: {x}"},
	errStreamNameExistRestore: {400, 10130, "stream name already in use, cannot restore"},
	errRestoreSubscribe:       {500, 10042, "JetStream unable to subscribe to restore snapshot {x}"},

	errInsufficientResources:    {503, 10023, "insufficient resources"},
	errAccountResourcesExceeded: {400, 10002, "resource limits exceeded for account"},
	errStorageResourcesExceeded: {500, 10047, "insufficient storage resources available"},
	errMemoryResourcesExceeded:  {500, 10028, "insufficient memory resources available"},

	errStreamTransformSource:      {400, 10155, "stream transform source: {x}"},
	errStreamTransformDest:        {400, 10156, "stream transform: {x}"},
	errMirrorWithSubjects:         {400, 10034, "stream mirrors can not contain subjects"},
	errMirrorWithSources:          {400, 10031, "stream mirrors can not also contain other sources"},
	errMirrorWithStartSeqAndTime:  {400, 10032, "stream mirrors can not have both start seq and start time configured"},
	errMirrorWithSubjectFilters:   {400, 10033, "stream mirrors can not contain filtered subjects"},
	errMirrorWithFirstSeq:         {400, 10143, "stream mirrors can not have first sequence configured"},
	errMirrorNotUpdatable:         {400, 10055, "stream mirror configuration can not be updated"},
	errMirrorInvalidStreamName:    {400, 10142, "mirrored stream name is invalid"},
	errMirrorInvalidSubjectFilter: {400, 10151, "mirror transform source: {x}"},
	errMirrorInvalidTransformDest: {400, 10154, "mirror transform: {x}"},
	errMirrorOverlappingFilters:   {400, 10152, "mirror subject filters can not overlap"},
	errMirrorMultipleFilters:      {400, 10150, "mirror with multiple subject transforms cannot also have a single subject filter"},
	errSourceDuplicate:            {400, 10140, "duplicate source configuration detected"},
	errSourceInvalidStreamName:    {400, 10141, "sourced stream name is invalid"},
	errSourceInvalidSubjectFilter: {400, 10145, "source transform source: {x}"},
	errSourceInvalidTransformDest: {400, 10146, "source transform: {x}"},
	errSourceOverlappingFilters:   {400, 10147, "source filters can not overlap"},
	errSourceMultipleFilters:      {400, 10144, "source with multiple subject transforms cannot also have a single subject filter"},
	errExternalAPIOverlap:         {400, 10021, "stream external api prefix {x}"},
	errExternalDeliverWildcards:   {400, 10024, "stream external delivery prefix {x} must not contain wildcards"},
	errMirrorMaxMsgSize:           {400, 10030, "stream mirror must have max message size >= source"},
	errSourceMaxMsgSize:           {400, 10046, "stream source must have max message size >= target"},

	errAtomicDisabled:                 {400, 10174, "atomic publish is disabled"},
	errAtomicMissingSeq:               {400, 10175, "atomic publish sequence is missing"},
	errAtomicIncomplete:               {400, 10176, "atomic publish batch is incomplete"},
	errAtomicUnsupportedHeader:        {400, 10177, "atomic publish unsupported header used: {x}"},
	errAtomicInvalidID:                {400, 10179, "atomic publish batch ID is invalid"},
	errAtomicTooLarge:                 {400, 10199, "atomic publish batch is too large: {x}"},
	errAtomicInvalidCommit:            {400, 10200, "atomic publish batch commit is invalid"},
	errAtomicDuplicateMsg:             {400, 10201, "atomic publish batch contains duplicate message id"},
	errAtomicTooManyInflight:          {429, 10210, "atomic publish too many inflight"},
	errMirrorWithAtomic:               {400, 10198, "stream mirrors can not also use atomic publishing"},
	errWrongLastSeqConstant:           {400, 10164, "wrong last sequence"},
	errIncrDisabled:                   {400, 10168, "message counters is disabled"},
	errIncrMissing:                    {400, 10169, "message counter increment is missing"},
	errIncrPayload:                    {400, 10170, "message counter has payload"},
	errIncrInvalid:                    {400, 10171, "message counter increment is invalid"},
	errCounterBroken:                  {400, 10172, "message counter is broken"},
	errMirrorWithCounters:             {400, 10173, "stream mirrors can not also calculate counters"},
	errFastDisabled:                   {400, 10205, "batch publish is disabled"},
	errFastInvalidPattern:             {400, 10206, "batch publish pattern is invalid"},
	errFastInvalidID:                  {400, 10207, "batch publish ID is invalid"},
	errFastUnknownID:                  {400, 10208, "batch publish ID unknown"},
	errMirrorWithFast:                 {400, 10209, "stream mirrors can not also use batch publishing"},
	errFastTooManyInflight:            {429, 10211, "batch publish too many inflight"},
	errRequiredAPILevel:               {412, 10185, "JetStream minimum api level required"},
	errConsumerPolicyWithoutGroup:     {400, 10159, "Setting PriorityPolicy requires at least one PriorityGroup to be set"},
	errConsumerInvalidPriorityGroup:   {400, 10160, "Provided priority group does not exist for this consumer"},
	errConsumerEmptyGroupName:         {400, 10161, "Group name cannot be an empty string"},
	errConsumerInvalidGroupName:       {400, 10162, "Valid priority group name must match A-Z, a-z, 0-9, -_/=)+ and may not exceed 16 characters"},
	errConsumerPushWithPriorityGroup:  {400, 10178, "priority groups can not be used with push consumers"},
	errConsumerGroupsWithPolicyNone:   {400, 10196, "consumer can not have priority groups when policy is none"},
	errConsumerPinnedTTLWithoutPolicy: {400, 10197, "PinnedTTL cannot be set when PriorityPolicy is none"},
}

// apiErr builds the error of kind k; detail fills the description's "{x}".
func apiErr(k errKind, detail ...any) *APIError {
	e := errTable[k]
	if strings.Contains(e.Description, "{x}") {
		x := ""
		if len(detail) > 0 {
			x = fmt.Sprint(detail...)
		}
		e.Description = strings.Replace(e.Description, "{x}", x, 1)
	}
	return &e
}
