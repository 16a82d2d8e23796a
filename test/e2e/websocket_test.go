package e2e

// WebSocket through a real Envoy (TestEndToEnd calls testWebSocket): the
// upgrade reaches an echo backend after Check allowed it, and frames go
// both ways. The handshake and frames are written by hand (RFC 6455), to
// need no WebSocket library.

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/apigwio/apigw/authz/signing"
	"github.com/apigwio/apigw/xds"
)

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// wsFrame is one WebSocket frame.
type wsFrame struct {
	opcode  byte
	payload []byte
}

// readFrame reads one frame, unmasking it.
func readFrame(r io.Reader) (wsFrame, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return wsFrame{}, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return wsFrame{}, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return wsFrame{}, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > 1<<20 {
		return wsFrame{}, fmt.Errorf("frame of %d bytes", n)
	}
	var mask [4]byte
	masked := h[1]&0x80 != 0
	if masked {
		if _, err := io.ReadFull(r, mask[:]); err != nil {
			return wsFrame{}, err
		}
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return wsFrame{}, err
	}
	if masked {
		for i := range p {
			p[i] ^= mask[i%4]
		}
	}
	return wsFrame{opcode: h[0] & 0x0f, payload: p}, nil
}

// writeFrame writes one final frame, masked when mask (clients must mask).
func writeFrame(w io.Writer, f wsFrame, mask bool) error {
	var b bytes.Buffer
	b.WriteByte(0x80 | f.opcode)
	m := byte(0)
	if mask {
		m = 0x80
	}
	switch n := len(f.payload); {
	case n < 126:
		b.WriteByte(m | byte(n))
	case n < 1<<16:
		b.WriteByte(m | 126)
		_ = binary.Write(&b, binary.BigEndian, uint16(n))
	default:
		b.WriteByte(m | 127)
		_ = binary.Write(&b, binary.BigEndian, uint64(n))
	}
	p := bytes.Clone(f.payload)
	if mask {
		var key [4]byte
		_, _ = rand.Read(key[:])
		b.Write(key[:])
		for i := range p {
			p[i] ^= key[i%4]
		}
	}
	b.Write(p)
	_, err := w.Write(b.Bytes())
	return err
}

// wsEchoHandler accepts WebSocket upgrades and echoes every data frame;
// its 101 names the API and app the gateway told it (X-Seen-Api-Id,
// X-Seen-App-Id). Other requests get 400.
func wsEchoHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Sec-WebSocket-Key")
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || key == "" {
			http.Error(w, "websocket only", http.StatusBadRequest)
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\nX-Seen-Api-Id: %s\r\nX-Seen-App-Id: %s\r\nX-Seen-Path: %s\r\n\r\n",
			wsAccept(key), r.Header.Get("X-Apig-Api-Id"), r.Header.Get("X-Apig-App-Id"), r.URL.Path)
		if rw.Flush() != nil {
			return
		}
		for {
			f, err := readFrame(rw)
			if err != nil {
				return
			}
			if f.opcode == 0x8 { // close
				_ = writeFrame(conn, wsFrame{opcode: 0x8, payload: f.payload}, false)
				return
			}
			if writeFrame(conn, f, false) != nil {
				return
			}
		}
	})
}

// wsDial sends req (an upgrade) to Envoy's listener on a new connection and
// returns the response and, after a 101, the connection.
func (g *gateway) wsDial(t *testing.T, req *http.Request) (*http.Response, net.Conn, *bufio.Reader) {
	t.Helper()
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	if req.Header.Get("Sec-WebSocket-Key") == "" {
		req.Header.Set("Sec-WebSocket-Key", base64.StdEncoding.EncodeToString(key))
	}
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", g.envoyPort), requestTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(requestTimeout))
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatalf("upgrade %s: %v", req.URL.Path, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return resp, nil, nil
	}
	if got, want := resp.Header.Get("Sec-WebSocket-Accept"), wsAccept(req.Header.Get("Sec-WebSocket-Key")); got != want {
		t.Errorf("Sec-WebSocket-Accept %q, want %q", got, want)
	}
	return resp, conn, br
}

// wsUpgrade is an upgrade request to the group "route".
func (g *gateway) wsUpgrade(t *testing.T, path string) *http.Request {
	t.Helper()
	req := g.routeReq(t, "GET", path)
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Version", "13")
	return req
}

// wsEcho sends text frames and checks they come back.
func wsEcho(t *testing.T, conn net.Conn, br *bufio.Reader) {
	t.Helper()
	for _, msg := range []string{"hello", strings.Repeat("x", 300), strings.Repeat("y", 70000)} {
		if err := writeFrame(conn, wsFrame{opcode: 0x1, payload: []byte(msg)}, true); err != nil {
			t.Fatal(err)
		}
		f, err := readFrame(br)
		if err != nil {
			t.Fatalf("reading the echo of a %d-byte message: %v", len(msg), err)
		}
		if f.opcode != 0x1 || string(f.payload) != msg {
			t.Fatalf("echo: opcode %d, %d bytes; want text, %d bytes", f.opcode, len(f.payload), len(msg))
		}
	}
	if err := writeFrame(conn, wsFrame{opcode: 0x8, payload: []byte{0x03, 0xe8}}, true); err != nil {
		t.Fatal(err)
	}
	if f, err := readFrame(br); err != nil || f.opcode != 0x8 {
		t.Errorf("close: %v %v, want the close frame back", f, err)
	}
}

func testWebSocket(t *testing.T, g *gateway) {
	t.Run("upgrade to a websocket API, auth none", func(t *testing.T) {
		resp, conn, br := g.wsDial(t, g.wsUpgrade(t, "/r/ws"))
		if conn == nil {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("upgrade = %d %s, want 101", resp.StatusCode, b)
		}
		if resp.Header.Get("X-Seen-Api-Id") != "route/ws" || resp.Header.Get("X-Seen-Path") != "/ws" {
			t.Errorf("backend saw api %q path %q, want route/ws /ws", resp.Header.Get("X-Seen-Api-Id"), resp.Header.Get("X-Seen-Path"))
		}
		wsEcho(t, conn, br)
	})
	t.Run("signed upgrade to an app websocket API", func(t *testing.T) {
		req := g.wsUpgrade(t, "/r/ws-app")
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		if err := signing.SignRequest(req, nil, signing.SignOptions{Access: appKey, Secret: appSecret}); err != nil {
			t.Fatal(err)
		}
		resp, conn, br := g.wsDial(t, req)
		if conn == nil {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("signed upgrade = %d %s, want 101", resp.StatusCode, b)
		}
		if resp.Header.Get("X-Seen-App-Id") != appName || resp.Header.Get("X-Seen-Api-Id") != "route/ws-app" {
			t.Errorf("backend saw app %q api %q, want %s route/ws-app", resp.Header.Get("X-Seen-App-Id"), resp.Header.Get("X-Seen-Api-Id"), appName)
		}
		wsEcho(t, conn, br)
	})
	t.Run("unsigned upgrade to an app websocket API gets APIG.0303", func(t *testing.T) {
		resp, conn, _ := g.wsDial(t, g.wsUpgrade(t, "/r/ws-app"))
		if conn != nil {
			t.Fatal("an unsigned upgrade was switched")
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("unsigned upgrade = %d %s, want 401", resp.StatusCode, b)
		}
		expectErrorBody(t, string(b), "APIG.0303")
	})
	t.Run("upgrade to an API without websocket is refused", func(t *testing.T) {
		resp, conn, _ := g.wsDial(t, g.wsUpgrade(t, "/r/a"))
		if conn != nil {
			t.Fatal("an upgrade to a non-websocket API was switched")
		}
		b, _ := io.ReadAll(resp.Body)
		// Envoy answers 403 upgrade_failed before any filter; the
		// local-reply mapper turns it into the gateway's 400.
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("upgrade to /r/a = %d %s, want 400", resp.StatusCode, b)
		}
		expectErrorBody(t, string(b), "APIG.0201")
		if !strings.Contains(string(b), xds.UpgradeRefusedDetail) {
			t.Errorf("upgrade to /r/a: body %s, want the detail %q", b, xds.UpgradeRefusedDetail)
		}
	})
}
