package api

import (
	"errors"
	"io"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/testharness"
)

// FuzzDecode feeds arbitrary bodies to the strict decoder: it must never
// panic, and every refusal must map to a 4xx with a stable code.
func FuzzDecode(f *testing.F) {
	for _, s := range testharness.HostileInputs {
		f.Add(s)
		f.Add(`{"domain":` + strconv.Quote(s) + `,"aliases":[` + strconv.Quote(s) + `]}`)
	}
	for _, seed := range []string{
		`{"domain":"new.example.com","aliases":["www.new.example.com"],"platform":"p1","db_server":"web1","client":"acme"}`, `{}`, `[]`, `null`, `{"domain":1}`, `{"x":1}`, `{"domain":"a"}{}`, `{"aliases":[null]}`,
		`{"domain":"\u0000"}`, `{`, ``, ` `, `"str"`, `{"domain":"a","domain":"b"}`,
	} {
		f.Add(seed)
	}
	srv := &Server{cfg: Config{BodyLimit: 1 << 20}}
	app := fiber.New()
	app.Post("/", func(c *fiber.Ctx) error {
		var v apiv1.SiteCreate
		err := srv.decode(c, &v)
		if err == nil {
			return c.SendStatus(200)
		}
		var ae *apiError
		status, d := MapError(err, "x")
		if !errors.As(err, &ae) || status < 400 || status >= 500 || d.Code == "" || d.Message == "" {
			return c.Status(599).SendString(err.Error())
		}
		return c.SendStatus(status)
	})
	f.Fuzz(func(t *testing.T, body string) {
		res, err := app.Test(httptest.NewRequest("POST", "/", strings.NewReader(body)), -1)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode == 599 {
			msg, _ := io.ReadAll(res.Body)
			t.Fatalf("decode error not mapped to a 4xx with a code: %s", msg)
		}
	})
}
