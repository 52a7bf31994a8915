package azureml

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/mlship/mlship/pack/azureml/azuremltest"
)

// staticCredential is an azcore.TokenCredential with a fixed token.
type staticCredential struct {
	token  string
	mu     sync.Mutex
	scopes []string
}

func (c *staticCredential) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.mu.Lock()
	c.scopes = append(c.scopes, o.Scopes...)
	c.mu.Unlock()
	return azcore.AccessToken{Token: c.token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// newFake starts a fake ARM over TLS and a Client for its workspace.
func newFake(t *testing.T) (*azuremltest.ARM, *Client) {
	t.Helper()
	f := azuremltest.NewARM(t, true)
	c, err := NewClient(Workspace{SubscriptionID: f.SubscriptionID, ResourceGroup: f.ResourceGroup, Name: f.Workspace},
		&staticCredential{token: f.Token},
		Options{Endpoint: f.URL, Transport: f.Client, PollFrequency: 5 * time.Millisecond, Retry: policy.RetryOptions{MaxRetries: -1}})
	if err != nil {
		t.Fatal(err)
	}
	return f, c
}
