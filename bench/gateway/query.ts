/**
 * The deep query of The Guild's federation gateway benchmark (`TestQuery`): users → reviews →
 * product → reviews → author → reviews → product, and topProducts → reviews → author → reviews →
 * product, through named fragments.
 */
export const BENCHMARK_QUERY = `fragment User on User {
  id
  username
  name
}

fragment Review on Review {
  id
  body
}

fragment Product on Product {
  inStock
  name
  price
  shippingEstimate
  upc
  weight
}

query TestQuery {
  users {
    ...User
    reviews {
      ...Review
      product {
        ...Product
        reviews {
          ...Review
          author {
            ...User
            reviews {
              ...Review
              product {
                ...Product
              }
            }
          }
        }
      }
    }
  }
  topProducts {
    ...Product
    reviews {
      ...Review
      author {
        ...User
        reviews {
          ...Review
          product {
            ...Product
          }
        }
      }
    }
  }
}`;

/** The HTTP body every load generator sends. */
export const BENCHMARK_BODY = JSON.stringify({ query: BENCHMARK_QUERY, operationName: 'TestQuery' });
