package badversion

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseReadsEachKindAndTheirCombination(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Spec
		str  string
	}{
		{"", Spec{}, ""},
		{"  ", Spec{}, ""},
		{"5xx=50%", Spec{ErrorPercent: 50}, "5xx=50%"},
		{"5xx=1%", Spec{ErrorPercent: 1}, "5xx=1%"},
		{"5xx=100%", Spec{ErrorPercent: 100}, "5xx=100%"},
		{"latency=3s", Spec{Latency: 3 * time.Second}, "latency=3s"},
		{"latency=250ms", Spec{Latency: 250 * time.Millisecond}, "latency=250ms"},
		{"health", Spec{FailHealth: true}, "health"},
		{"refuse", Spec{Refuse: true}, "refuse"},
		{"latency=2s, 5xx=10%", Spec{ErrorPercent: 10, Latency: 2 * time.Second}, "5xx=10%,latency=2s"},
		{"health,refuse", Spec{FailHealth: true, Refuse: true}, "health,refuse"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Parse(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.str, got.String())
			assert.Equal(t, tc.want != Spec{}, got.IsBad())
			again, err := Parse(got.String())
			require.NoError(t, err)
			assert.Equal(t, got, again, "String is read back as the same spec")
		})
	}
}

func TestParseRejectsBadValuesNamingThem(t *testing.T) {
	for _, tc := range []struct{ in, mention string }{
		{"5xx=50", `5xx="50"`},
		{"5xx=0%", `5xx="0%"`},
		{"5xx=101%", `5xx="101%"`},
		{"5xx=half%", `5xx="half%"`},
		{"5xx", `5xx=""`},
		{"latency=3", `latency="3"`},
		{"latency=-1s", `latency="-1s"`},
		{"latency=3m", "up to 2m0s"},
		{"latency", `latency=""`},
		{"health=yes", `health takes no value (got "yes")`},
		{"refuse=1", "refuse takes no value"},
		{"slow", `unknown kind "slow"`},
		{"5xx=5%,", `unknown kind ""`},
		{"health,health", "health given twice"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			_, err := Parse(tc.in)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.mention)
			assert.Contains(t, err.Error(), `"`+tc.in+`"`, "the whole spec is quoted")
		})
	}
	_, err := Parse("slow")
	assert.Contains(t, err.Error(), "5xx=<1-100>%, latency=<duration", "the unknown kind's error lists what is allowed")
}

func TestLDFlagsAndBuildArgsSetOnlyWhatIsBad(t *testing.T) {
	assert.Empty(t, Spec{}.LDFlags())
	assert.Equal(t, map[string]string{"BAD_5XX_PERCENT": "", "BAD_LATENCY": "", "BAD_HEALTH": "", "BAD_REFUSE": ""}, Spec{}.BuildArgs(),
		"a good build sets every argument empty, so no cached bad layer is reused")

	s := Spec{ErrorPercent: 50, Latency: 3 * time.Second, FailHealth: true, Refuse: true}
	assert.Equal(t, []string{"-X", "main.bad5xxPercent=50", "-X", "main.badLatency=3s", "-X", "main.badHealth=true", "-X", "main.badRefuse=true"}, s.LDFlags())
	assert.Equal(t, map[string]string{"BAD_5XX_PERCENT": "50", "BAD_LATENCY": "3s", "BAD_HEALTH": "true", "BAD_REFUSE": "true"}, s.BuildArgs())
	assert.Equal(t, []string{"-X", "main.badLatency=1.5s"}, Spec{Latency: 1500 * time.Millisecond}.LDFlags())
}

// The Dockerfile builds the image the acceptance run pushes: each build
// argument must exist there and reach its variable through -X.
func TestDockerfileTakesEveryBuildArgument(t *testing.T) {
	src, err := os.ReadFile("../../images/app/Dockerfile")
	require.NoError(t, err)
	dockerfile := string(src)
	for _, v := range Variables() {
		assert.Contains(t, dockerfile, "ARG "+v.BuildArg+"=\n", "declared, empty by default")
		assert.Contains(t, dockerfile, "-X "+v.Name+"=${"+v.BuildArg+"}")
	}
	// The app declares each variable (a -X naming a missing one is
	// silently ignored by the linker).
	app, err := os.ReadFile("../../images/app/bad.go")
	require.NoError(t, err)
	for _, v := range Variables() {
		name := strings.TrimPrefix(v.Name, "main.")
		assert.Regexp(t, `(?m)^\s+`+name+`\s+(string\s+)?= ""`, string(app))
	}
}
