package upload

import (
	"fmt"
	"net"
	"strings"
	"unicode/utf8"
)

// URL is an S3 location, s3://Bucket/Key. A Key that is empty or ends in "/" is a prefix (a folder
// of objects); any other Key names one object. Every s3:// string pg2s3 reads is parsed here.
type URL struct {
	Bucket string
	Key    string
}

// URLError is a string that is not the S3 location it should be.
type URLError struct {
	URL    string
	Reason string
}

func (e *URLError) Error() string { return fmt.Sprintf("%q %s", e.URL, e.Reason) }

// IsS3 says whether s is written as an s3:// URL.
func IsS3(s string) bool { return strings.HasPrefix(s, "s3://") }

// ParseURL reads s3://bucket[/key]: a bucket is required; the key may be a prefix or an object.
func ParseURL(s string) (URL, error) {
	rest, ok := strings.CutPrefix(s, "s3://")
	if !ok {
		return URL{}, &URLError{URL: s, Reason: "is not an s3:// URL (want s3://bucket/key)"}
	}
	bucket, key, _ := strings.Cut(rest, "/")
	if bucket == "" {
		return URL{}, &URLError{URL: s, Reason: "has no bucket name (want s3://bucket/key)"}
	}
	if reason := checkBucket(bucket); reason != "" {
		return URL{}, &URLError{URL: s, Reason: "has a bucket name S3 would refuse: " + reason}
	}
	if len(key) > 1024 {
		return URL{}, &URLError{URL: s, Reason: fmt.Sprintf("has a key of %d bytes; S3 keys are at most 1024", len(key))}
	}
	if !utf8.ValidString(key) {
		return URL{}, &URLError{URL: s, Reason: "has a key that is not UTF-8"}
	}
	if DotSegment(key) {
		return URL{}, &URLError{URL: s, Reason: "has a key with a \".\" or \"..\" segment: " + dotSegmentReason}
	}
	return URL{Bucket: bucket, Key: key}, nil
}

// DotSegment says whether a key has a "." or ".." between its slashes.
func DotSegment(key string) bool {
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

const dotSegmentReason = "stores and tools read it as a relative path (some stores refuse it, others store " +
	"it as it is; a copy to disk would land outside its folder)"

// DotSegmentReason says why a key may not have a "." or ".." segment.
func DotSegmentReason() string { return dotSegmentReason }

// checkBucket applies S3's bucket naming rules: 3 to 63 characters; letters, digits, dots and
// hyphens; a letter or digit first and last; no two dots in a row; not an IP address. Upper case
// and underscores, which only old AWS buckets and some S3-compatible stores allow, are accepted.
func checkBucket(b string) string {
	switch {
	case len(b) < 3 || len(b) > 63:
		return fmt.Sprintf("%q has %d characters, not 3 to 63", b, len(b))
	case strings.Contains(b, ".."):
		return fmt.Sprintf("%q has two dots in a row", b)
	case net.ParseIP(b) != nil:
		return fmt.Sprintf("%q is an IP address", b)
	}
	for i, r := range b {
		alnum := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if !alnum && ((r != '.' && r != '-' && r != '_') || i == 0 || i == len(b)-1) {
			return fmt.Sprintf("%q has %q at position %d (letters, digits, dots and hyphens; a letter or digit first and last)", b, r, i+1)
		}
	}
	return ""
}

// ParseObject reads s3://bucket/key naming one object: the key is not empty and does not end in "/".
func ParseObject(s string) (URL, error) {
	u, err := ParseURL(s)
	if err != nil {
		return URL{}, err
	}
	switch {
	case u.Key == "":
		return URL{}, &URLError{URL: s, Reason: "has no object key (want s3://bucket/key)"}
	case u.IsPrefix():
		return URL{}, &URLError{URL: s, Reason: fmt.Sprintf("ends in \"/\": give the object's full key, e.g. %sexport.csv", s)}
	}
	return u, nil
}

// ParsePrefix reads s3://bucket/prefix/ (or s3://bucket): a folder of objects.
func ParsePrefix(s string) (URL, error) {
	u, err := ParseURL(s)
	if err != nil {
		return URL{}, err
	}
	if !u.IsPrefix() {
		return URL{}, &URLError{URL: s, Reason: "is not a prefix: give s3://bucket/prefix/ (ending in /)"}
	}
	return u, nil
}

// IsPrefix says whether u is a folder (the bucket's root, or a key ending in "/").
func (u URL) IsPrefix() bool { return u.Key == "" || strings.HasSuffix(u.Key, "/") }

// Join is the location rel under the prefix u.
func (u URL) Join(rel string) URL { return URL{Bucket: u.Bucket, Key: u.Key + rel} }

// String renders s3://bucket/key.
func (u URL) String() string { return "s3://" + u.Bucket + "/" + u.Key }
