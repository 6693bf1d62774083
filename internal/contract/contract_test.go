package contract

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every output StackOutputs names is one main.go exports, so a renamed
// export fails here rather than in a tool reading an empty field.
func TestStackOutputsAreExportedByTheProgram(t *testing.T) {
	src, err := os.ReadFile("../../main.go")
	require.NoError(t, err)
	typ := reflect.TypeFor[StackOutputs]()
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		assert.Contains(t, string(src), `ctx.Export("`+name+`"`, "field %s", typ.Field(i).Name)
	}
}
