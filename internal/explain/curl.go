package explain

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/shlex"
)

// CurlRequest is a request read from a curl command line.
type CurlRequest struct {
	Method string
	URL    string
	// Header keeps the names as written, in order.
	Header http.Header
	Body   []byte
	// HasBody is true when the command sends a body (even empty).
	HasBody bool
}

// MaxCurlSize bounds a curl command read by ParseCurl.
const MaxCurlSize = 64 << 20

// ParseCurl reads one curl command in the form `apigw sign -o curl`
// prints:
//
//	curl -sS -X POST 'http://host/path' \
//	  -H 'Name: value' \
//	  --data-binary '...'
//
// Backslash-newlines join lines; words are split as a POSIX shell does
// (quotes, backslash escapes). Understood: -X/--request, -H/--header,
// --url or one URL argument, --data-binary/--data-raw/-d/--data (several
// are joined with "&" as curl does; "@file" is refused), and the flags
// that change nothing here (-s, -S, -sS, -v, -i, -k, -L, --compressed,
// --silent, --show-error, --verbose, --include, --insecure, --location).
// Anything else is an error naming it, rather than a guess.
func ParseCurl(text string) (*CurlRequest, error) {
	if len(text) > MaxCurlSize {
		return nil, fmt.Errorf("the curl command is larger than %d bytes", MaxCurlSize)
	}
	text = strings.ReplaceAll(text, "\\\r\n", "")
	text = strings.ReplaceAll(text, "\\\n", "")
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, errors.New("empty request: expected a curl command (apigw sign ... -o curl)")
	}
	words, err := shlex.Split(text)
	if err != nil {
		return nil, fmt.Errorf("cannot split the curl command: %v", err)
	}
	if len(words) == 0 || words[0] != "curl" {
		first := ""
		if len(words) > 0 {
			first = words[0]
		}
		return nil, fmt.Errorf("expected a curl command, got %q (apigw sign ... -o curl prints one)", clipWord(first))
	}
	r := &CurlRequest{Header: http.Header{}}
	var data []string
	value := func(i *int, name string) (string, error) {
		if *i+1 >= len(words) {
			return "", fmt.Errorf("curl option %s needs a value", name)
		}
		*i++
		return words[*i], nil
	}
	for i := 1; i < len(words); i++ {
		w := words[i]
		switch {
		case w == "-X" || w == "--request":
			v, err := value(&i, w)
			if err != nil {
				return nil, err
			}
			r.Method = v
		case strings.HasPrefix(w, "-X") && len(w) > 2:
			r.Method = w[2:]
		case w == "-H" || w == "--header":
			v, err := value(&i, w)
			if err != nil {
				return nil, err
			}
			name, val, ok := strings.Cut(v, ":")
			if !ok || strings.TrimSpace(name) == "" || strings.ContainsAny(name, " \t") {
				return nil, fmt.Errorf("curl header %q: write \"Name: value\"", clipWord(v))
			}
			r.Header[strings.TrimSpace(name)] = append(r.Header[strings.TrimSpace(name)], strings.TrimSpace(val))
		case w == "--data-binary" || w == "--data-raw" || w == "-d" || w == "--data" || w == "--data-ascii":
			v, err := value(&i, w)
			if err != nil {
				return nil, err
			}
			if w != "--data-raw" && strings.HasPrefix(v, "@") {
				return nil, fmt.Errorf("curl %s %s: bodies from files are not read; use apigw check --data-file", w, clipWord(v))
			}
			data = append(data, v)
		case w == "--url":
			v, err := value(&i, w)
			if err != nil {
				return nil, err
			}
			if r.URL != "" {
				return nil, errors.New("the curl command has more than one URL")
			}
			r.URL = v
		case quietFlags[w]:
		case strings.HasPrefix(w, "-") && w != "-":
			return nil, fmt.Errorf("curl option %s is not understood by apigw check", clipWord(w))
		default:
			if r.URL != "" {
				return nil, errors.New("the curl command has more than one URL")
			}
			r.URL = w
		}
	}
	if r.URL == "" {
		return nil, errors.New("the curl command has no URL")
	}
	if u, err := url.Parse(r.URL); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("curl URL %q: need http://host/path or https://host/path", clipWord(r.URL))
	}
	if len(data) > 0 {
		r.HasBody = true
		r.Body = []byte(strings.Join(data, "&"))
	}
	if r.Method == "" {
		r.Method = "GET"
		if r.HasBody {
			r.Method = "POST"
		}
	}
	return r, nil
}

var quietFlags = map[string]bool{
	"-s": true, "-S": true, "-sS": true, "-Ss": true, "-v": true, "-i": true, "-k": true, "-L": true,
	"--compressed": true, "--silent": true, "--show-error": true, "--verbose": true, "--include": true,
	"--insecure": true, "--location": true,
}

// clipWord keeps error messages short.
func clipWord(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
