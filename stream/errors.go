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
	errStreamCreate
	errStreamUpdate
	errStreamDelete
	errStreamPurge
	errStreamStoreFailed
	errStreamReplicasNotSupported
	errStreamNameInvalid
	errNoMessageFound
	errMsgDeleteFailed
	errMsgTooBig
	errHeaderTooBig
	errExpectedStream
	errWrongLastSeq
	errWrongLastMsgID
	errStreamSealed
	errMaxStreams
	errGeneral
)

var errTable = [...]APIError{
	errBadRequest:                 {400, 10003, "bad request"},
	errInvalidJSON:                {400, 10025, "invalid JSON: {x}"},
	errNotEmptyRequest:            {400, 10038, "expected an empty request payload"},
	errStreamNotFound:             {404, 10059, "stream not found"},
	errStreamNameExist:            {400, 10058, "stream name already in use with a different configuration"},
	errStreamMismatch:             {400, 10056, "stream name in subject does not match request"},
	errStreamSubjectOverlap:       {400, 10065, "subjects overlap with an existing stream"},
	errStreamInvalidConfig:        {500, 10052, "{x}"},
	errStreamCreate:               {500, 10049, "{x}"},
	errStreamUpdate:               {500, 10069, "{x}"},
	errStreamDelete:               {500, 10050, "{x}"},
	errStreamPurge:                {500, 10110, "{x}"},
	errStreamStoreFailed:          {503, 10077, "{x}"},
	errStreamReplicasNotSupported: {500, 10074, "replicas > 1 not supported in non-clustered mode"},
	errStreamNameInvalid:          {400, 10128, "stream name can not contain path separators"},
	errNoMessageFound:             {404, 10037, "no message found"},
	errMsgDeleteFailed:            {500, 10057, "{x}"},
	errMsgTooBig:                  {400, 10054, "message size exceeds maximum allowed"},
	errHeaderTooBig:               {400, 10097, "header size exceeds maximum allowed of 64k"},
	errExpectedStream:             {400, 10060, "expected stream does not match"},
	errWrongLastSeq:               {400, 10071, "wrong last sequence: {x}"},
	errWrongLastMsgID:             {400, 10070, "wrong last msg ID: {x}"},
	errStreamSealed:               {400, 10109, "invalid operation on sealed stream"},
	errMaxStreams:                 {400, 10027, "maximum number of streams reached"},
	errGeneral:                    {500, 10051, "{x}"},
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
