package upload

import (
	"bytes"
	"cmp"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// ClientConfig holds the settings that do not come from the SDK's default chain.
type ClientConfig struct {
	Endpoint  string // the S3 endpoint; empty: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, or AWS itself
	Region    string // empty: the SDK's chain (AWS_REGION, profile), else us-east-1
	PathStyle *bool  // nil: automatic (on for IP-address and localhost endpoints)
	Profile   string // a shared-config profile; empty: AWS_PROFILE, else the default profile
	CABundle  string // a PEM file of the CAs to trust; empty: AWS_CA_BUNDLE, the profile's ca_bundle, or the system's

	// MaxAttempts is how many times a request is tried before its error is final (default 6).
	// Transient errors (5xx, SlowDown and other throttling, connection resets, timeouts) are retried
	// with exponential backoff and full jitter, up to 20 s between attempts; permanent ones
	// (AccessDenied, NoSuchBucket, InvalidAccessKeyId, EntityTooLarge, ...) fail at once.
	MaxAttempts int

	// Retries, when not nil, counts the requests the client tried again (for the run's metrics).
	Retries *atomic.Int64

	// Logger, when set, gets every retry at Info: the request, the attempt and the cause (an
	// Uploader's requests name their object and operation themselves).
	Logger *slog.Logger
}

// countingRetryer counts and logs the retries its retryer grants: the SDK asks RetryDelay once
// before each new attempt.
type countingRetryer struct {
	aws.RetryerV2
	n      *atomic.Int64 // nil: not counted
	logger *slog.Logger  // nil: not logged
}

func (r countingRetryer) RetryDelay(attempt int, err error) (time.Duration, error) {
	d, e := r.delay(attempt, err)
	if e == nil && r.logger != nil {
		method, u := requestOf(err)
		r.logger.Info("retrying an S3 request", "request", method, "url", u, "attempt", attempt+1, "of", r.MaxAttempts(),
			"after", d.Round(time.Millisecond), "cause", describe(err))
	}
	return d, e
}

// delay is RetryDelay without the log, for a callRetryer that logs the retry itself.
func (r countingRetryer) delay(attempt int, err error) (time.Duration, error) {
	d, e := r.RetryerV2.RetryDelay(attempt, err)
	if e == nil && r.n != nil {
		r.n.Add(1)
	}
	return d, e
}

// requestOf finds the method and URL (without its query) of the request an attempt's error is
// about: in the HTTP response of an S3 error, or in the transport's error.
func requestOf(err error) (method, u string) {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.Response != nil && re.Response.Request != nil {
		req := re.Response.Request
		return req.Method, req.URL.Scheme + "://" + req.URL.Host + req.URL.Path
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op, strings.SplitN(ue.URL, "?", 2)[0]
	}
	return "", ""
}

// NewClient builds an S3 client from the SDK's default chain (environment, shared config and
// credentials files, SSO, web identity, ECS/EC2 roles) plus cfg.
func NewClient(ctx context.Context, cfg ClientConfig) (*s3.Client, error) {
	var opts []func(*config.LoadOptions) error
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(cfg.Profile))
	}
	pem, err := cfg.Validate(ctx)
	if err != nil {
		return nil, err
	}
	if pem != nil {
		opts = append(opts, config.WithCustomCABundle(bytes.NewReader(pem)))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	attempts := cfg.MaxAttempts
	if attempts <= 0 {
		attempts = 6
	}
	awsCfg.Retryer = func() aws.Retryer {
		r := retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = attempts
			o.MaxBackoff = 20 * time.Second
			// The SDK's retry quota would turn a burst of errors on parallel parts into
			// "retry quota exceeded" failures; each part has its own attempt budget instead.
			o.RateLimiter = ratelimit.None
		})
		if cfg.Retries != nil || cfg.Logger != nil {
			return countingRetryer{r, cfg.Retries, cfg.Logger}
		}
		return r
	}
	endpoint := cfg.Endpoint
	effective := endpoint
	if effective == "" {
		effective = os.Getenv("AWS_ENDPOINT_URL_S3")
	}
	if effective == "" {
		effective = aws.ToString(awsCfg.BaseEndpoint)
	}
	pathStyle := AutoPathStyle(effective)
	if cfg.PathStyle != nil {
		pathStyle = *cfg.PathStyle
	}
	return s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		o.UsePathStyle = pathStyle
		// pg2s3 computes and sends its own checksums; the SDK adds none of its own.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	}), nil
}

// Validate checks, without a network call, what can be wrong with the settings: the endpoint's
// form, the profile's existence and the CA bundle's content, which it returns. Its errors about a
// setting are *OptionError.
func (cfg ClientConfig) Validate(ctx context.Context) (caBundle []byte, err error) {
	if cfg.Endpoint != "" {
		if err := checkEndpoint(cfg.Endpoint); err != nil {
			return nil, err
		}
	}
	if cfg.Profile != "" {
		files := func(o *config.LoadSharedConfigOptions) { // where LoadDefaultConfig will look, too
			o.ConfigFiles = []string{cmp.Or(os.Getenv("AWS_CONFIG_FILE"), config.DefaultSharedConfigFilename())}
			o.CredentialsFiles = []string{cmp.Or(os.Getenv("AWS_SHARED_CREDENTIALS_FILE"), config.DefaultSharedCredentialsFilename())}
		}
		if _, err := config.LoadSharedConfigProfile(ctx, cfg.Profile, files); err != nil {
			var missing config.SharedConfigProfileNotExistError
			if errors.As(err, &missing) {
				return nil, &OptionError{Name: "Profile", Value: cfg.Profile, Reason: "no such profile in the shared config and credentials files"}
			}
			return nil, &OptionError{Name: "Profile", Value: cfg.Profile, Reason: err.Error()}
		}
	}
	if cfg.CABundle == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(cfg.CABundle)
	if err != nil {
		return nil, &OptionError{Name: "CABundle", Value: cfg.CABundle, Reason: err.Error()}
	}
	if !x509.NewCertPool().AppendCertsFromPEM(pem) {
		return nil, &OptionError{Name: "CABundle", Value: cfg.CABundle, Reason: "holds no PEM certificate"}
	}
	return pem, nil
}

func checkEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return &OptionError{Name: "Endpoint", Value: endpoint, Reason: "want https://host[:port] or http://host[:port]"}
	}
	return nil
}

// AutoPathStyle says whether an endpoint needs path-style addressing (http://host/bucket/key):
// IP addresses and localhost cannot carry the bucket as a subdomain.
func AutoPathStyle(endpoint string) bool {
	if endpoint == "" {
		return false
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return false
	}
	host := u.Hostname()
	return host == "localhost" || strings.HasSuffix(host, ".localhost") || net.ParseIP(host) != nil
}
