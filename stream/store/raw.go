package store

// PutRawMeta stores value as the definition of stream name as it is,
// unsealed and unseen by the manifest, as damage would leave it. It
// exists for tests that need a bad definition on disk.
func (b *Batch) PutRawMeta(name string, value []byte) error {
	return b.b.Set(metaKey(name), value, nil)
}

// PutRawConsumerValue stores value under a consumer key of stream id as
// it is (kind 'c' definition, 's' state), for tests of damaged records.
func (b *Batch) PutRawConsumerValue(id uint32, name string, kind byte, value []byte) error {
	return b.b.Set(consumerKey(nil, id, name, kind), value, nil)
}

// DropRawConsumer removes a consumer's records without telling the
// manifest, as damage would. For tests.
func (b *Batch) DropRawConsumer(id uint32, name string) error {
	lo := consumerPrefix(nil, id, name)
	hi := append([]byte(nil), lo...)
	hi[len(hi)-1] = 1
	return b.b.DeleteRange(lo, hi, nil)
}
