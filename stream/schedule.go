package stream

// msgSchedules is a stream's pending message schedules (allow_msg_schedules).
type msgSchedules struct {
	timer Timer
}
